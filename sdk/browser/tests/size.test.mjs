// The package stays small: at most 8 kB minified and gzipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const LIMIT = 8 * 1024;

test('dist/latchkey.min.js is at most 8 kB gzipped', () => {
  const min = readFileSync(new URL('../dist/latchkey.min.js', import.meta.url));
  const gz = gzipSync(min, { level: 9 }).length;
  console.log(`size: ${min.length} bytes minified, ${gz} bytes gzipped (limit ${LIMIT})`);
  assert.ok(gz <= LIMIT, `${gz} bytes gzipped, over ${LIMIT}`);
});
