// Bundles the test app with esbuild into one script.
//
//   node build.mjs <src dir> <out file>
//
// <src dir> holds src/'s files plus the guide's authConfig.js and main.js
// (e2e/aurelia_test.go puts them together in a temporary directory); the
// packages come from this folder's node_modules (npm ci).
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error('usage: node build.mjs <src dir> <out file>');
  process.exit(2);
}
await esbuild.build({
  entryPoints: [path.join(src, 'boot.js')],
  outfile: out,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  nodePaths: [path.join(here, 'node_modules')],
  loader: {'.html': 'text'},
  // aurelia-bootstrapper falls back to these loaders only when
  // PLATFORM.Loader is not set; boot.js sets it.
  external: ['aurelia-loader-nodejs', 'aurelia-loader-webpack'],
  logLevel: 'warning',
});
