// Builds the package and the account page's bundle:
//   dist/index.js, dist/*.d.ts  the package (ESM, readable, with types)
//   dist/latchkey.min.js        the same, minified (its size is tested)
//   ../../web/app.js            the account page: web/page/app.js bundled
//                               with the package (embedded in the binary)
// Usage: node build.mjs [--web-out DIR] (DIR instead of ../../web; the
// test that checks the committed bundle builds into a temporary one).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const i = process.argv.indexOf('--web-out');
const webOut = i > 0 ? path.resolve(process.argv[i + 1]) : path.join(root, 'web');

// Type-check and write the declarations.
execFileSync(process.execPath, [path.join(here, 'node_modules/typescript/lib/tsc.js'), '-p', path.join(here, 'tsconfig.json')], { stdio: 'inherit' });

const common = { bundle: true, target: 'es2020', absWorkingDir: root, logLevel: 'warning', charset: 'utf8' };
await build({ ...common, entryPoints: ['sdk/browser/src/index.ts'], format: 'esm', outfile: path.join(here, 'dist/index.js') });
await build({ ...common, entryPoints: ['sdk/browser/src/index.ts'], format: 'esm', minify: true, outfile: path.join(here, 'dist/latchkey.min.js') });
await build({
  ...common,
  entryPoints: ['web/page/app.js'],
  format: 'iife',
  outfile: path.join(webOut, 'app.js'),
  banner: {
    js:
      '// Generated from web/page/app.js and the browser SDK (sdk/browser/src) by\n' +
      '// sdk/browser/build.mjs: do not edit. `npm run build` in sdk/browser writes it\n' +
      '// again; web/sdk_test.go (TestBundleIsCurrent) fails when it differs from a\n' +
      '// fresh build.',
  },
});
