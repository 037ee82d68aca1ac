// The example builds against the binding and the client in this repository (their source, not a
// published copy); React resolves from this example's node_modules for both.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repo = (p) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@authgate/react': repo('clients/react/index.js'),
      '@authgate/client': repo('clients/js/authgate.js'),
    },
    dedupe: ['react', 'react-dom'],
  },
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: 'dist', emptyOutDir: true },
});
