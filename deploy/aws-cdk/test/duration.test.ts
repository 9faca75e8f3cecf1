import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidDuration, parseDuration } from '../lib/duration';

const NS = 1n;
const S = 1_000_000_000n * NS;
const M = 60n * S;
const H = 60n * M;
const D = 24n * H;
const W = 7n * D;

describe('parseDuration (Go durations plus d and w, as go-str2duration/v2)', () => {
  const valid: Array<[string, bigint]> = [
    ['90m', 90n * M],
    ['24h', 24n * H],
    ['1d', D],
    ['7d', 7n * D],
    ['30d', 30n * D],
    ['2w', 2n * W],
    ['1d12h', D + 12n * H],
    ['1w2d3h4m5s', W + 2n * D + 3n * H + 4n * M + 5n * S],
    ['1.5h', 90n * M],
    ['.5d', 12n * H],
    ['300ms', 300_000_000n],
    ['10us', 10_000n],
    ['10\u00b5s', 10_000n],
    ['10\u03bcs', 10_000n],
    ['+24h', 24n * H],
    ['-1h', -H],
    ['0', 0n],
    ['0s', 0n],
    ['15250w1d23h47m16s854ms775us807ns', (1n << 63n) - 1n], // Go's maximum duration
  ];
  for (const [input, want] of valid) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      assert.equal(parseDuration(input), want);
      assert.equal(isValidDuration(input), true);
    });
  }

  const invalid = [
    '', // empty
    '24', // no unit
    'h', // no number
    '1y', // unknown unit
    '24H', // units are case-sensitive, as in Go
    '1 d', // no spaces
    ' 24h', // no surrounding whitespace
    '24h ',
    '.h', // no digits
    '1..5h',
    '--1h',
    'P1D', // ISO 8601 is not accepted
    '1d-2h',
    '15250w1d23h47m16s854ms775us808ns', // one past int64
    '99999999999999999999h',
  ];
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.equal(isValidDuration(input), false);
    });
  }
});
