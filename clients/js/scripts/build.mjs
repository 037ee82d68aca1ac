// Builds the published module: clients/js/authgate.js, minified by esbuild from the readable
// source in clients/js/src/authgate.js (same exports, no bundling: the client has no dependencies).
//
//   node clients/js/scripts/build.mjs            writes authgate.js
//   node clients/js/scripts/build.mjs --check    fails (exit 1) when authgate.js is not what the
//                                                source builds to (CI runs this)
//
// Needs `npm ci --prefix clients/js` (esbuild is a devDependency, pinned: the same version always
// gives the same bytes).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { transform } from 'esbuild';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = path.join(DIR, 'src', 'authgate.js');
const OUT = path.join(DIR, 'authgate.js');
const pkg = JSON.parse(readFileSync(path.join(DIR, 'package.json'), 'utf8'));

export async function build() {
  const { code } = await transform(readFileSync(SOURCE, 'utf8'), {
    format: 'esm',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    keepNames: true, // AuthgateError.name and the functions' names survive (stack traces, err.constructor.name)
    sourcefile: 'src/authgate.js',
  });
  const banner = `/*! ${pkg.name} ${pkg.version} | ${pkg.license} | built from src/authgate.js by scripts/build.mjs: edit that, not this */\n`;
  return banner + code;
}

const built = await build();
if (process.argv.includes('--check')) {
  const current = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
  if (current !== built) {
    console.error('clients/js/authgate.js is stale: run `node clients/js/scripts/build.mjs` and commit it');
    process.exit(1);
  }
  console.log('clients/js/authgate.js is up to date with src/authgate.js');
} else {
  writeFileSync(OUT, built);
  console.log(`clients/js/authgate.js: ${built.length} bytes, ${gzipSync(built).length} gzipped`);
}
