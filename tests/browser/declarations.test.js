// authgate.d.ts declares exactly what authgate.js exports: the module's exports, the client's
// methods, both ways. (No browser: the module loads in Node.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './harness.js';

const CLIENT = path.join(ROOT, 'clients', 'js');
const dts = readFileSync(path.join(CLIENT, 'authgate.d.ts'), 'utf8');
const mod = await import(path.join(CLIENT, 'authgate.js'));

/** The member names (`name(` or `name:` at the block's first level) of `header {…}` in the .d.ts. */
function members(header) {
  const start = dts.indexOf(`${header} {`);
  assert.ok(start >= 0, `authgate.d.ts has no "${header}"`);
  const end = dts.indexOf('\n}', start);
  const block = dts.slice(start, end);
  return [...block.matchAll(/^ {2}(?:readonly )?([A-Za-z_$][\w$]*)\??[(:]/gm)].map((m) => m[1]).sort();
}

test('every export of authgate.js is declared in authgate.d.ts, and nothing more', () => {
  const declared = [...dts.matchAll(/^export declare (?:function|class|const) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]);
  if (/^export default /m.test(dts)) declared.push('default');
  assert.deepEqual(Object.keys(mod).sort(), declared.sort());
});

test("the client's methods are the AuthgateClient interface's, both ways", () => {
  const client = mod.createClient({ baseUrl: 'http://127.0.0.1:9' });
  const methods = Object.keys(client).filter((k) => typeof client[k] === 'function').sort();
  assert.deepEqual(Object.keys(client).sort(), methods, 'the client holds only methods');
  assert.deepEqual(methods, members('export interface AuthgateClient'));
});

test('the package: npm pack ships exactly the module, its declarations, README and CHANGELOG', async () => {
  const { execFileSync } = await import('node:child_process');
  const { gzipSync } = await import('node:zlib');
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: CLIENT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
  }));
  assert.deepEqual(pack.files.map((f) => f.path).sort(),
    ['CHANGELOG.md', 'README.md', 'api-types.d.ts', 'authgate.d.ts', 'authgate.js', 'package.json']);
  const pkg = JSON.parse(readFileSync(path.join(CLIENT, 'package.json'), 'utf8'));
  assert.equal(pack.version, pkg.version);
  assert.match(readFileSync(path.join(CLIENT, 'CHANGELOG.md'), 'utf8'), new RegExp(`^## ${pkg.version.replace(/\./g, '\\.')}$`, 'm'),
    'the CHANGELOG has an entry for the version');
  // The core as shipped (minified by scripts/build.mjs): under 8 KB gzipped, as README promises.
  const shipped = pack.files.find((f) => f.path === 'authgate.js');
  const gzipped = gzipSync(readFileSync(path.join(CLIENT, 'authgate.js'))).length;
  assert.ok(gzipped < 8 * 1024, `authgate.js is ${gzipped} bytes gzipped (${shipped.size} bytes): the budget is 8 KB`);
  // The rest is for the developer, not the page (README, CHANGELOG, the declarations, which grow
  // with the API: the identity-provider calls took it from 93 to 98 KB): a loose ceiling.
  assert.ok(pack.unpackedSize < 112 * 1024, `the package unpacks to ${pack.unpackedSize} bytes`);
});

test('the published authgate.js is what scripts/build.mjs makes of src/authgate.js (not stale)', async (t) => {
  const { existsSync } = await import('node:fs');
  if (!existsSync(path.join(CLIENT, 'node_modules', 'esbuild'))) {
    t.skip('esbuild is not installed: npm ci --prefix clients/js');
    return;
  }
  const { spawnSync } = await import('node:child_process');
  const run = spawnSync(process.execPath, [path.join(CLIENT, 'scripts', 'build.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});

test('the declarations compile with tsc --strict and type an application (tests/browser/fixtures/client-usage.ts)', async (t) => {
  const tsc = path.join(CLIENT, 'node_modules', 'typescript', 'bin', 'tsc');
  const { existsSync } = await import('node:fs');
  if (!existsSync(tsc)) {
    t.skip('TypeScript is not installed: npm ci --prefix clients/js');
    return;
  }
  const { spawnSync } = await import('node:child_process');
  const run = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext',
    '--moduleResolution', 'bundler', '--lib', 'es2022,dom',
    path.join(ROOT, 'tests', 'browser', 'fixtures', 'client-usage.ts')], { encoding: 'utf8' });
  assert.equal(run.status, 0, `tsc:\n${run.stdout}${run.stderr}`);
});
