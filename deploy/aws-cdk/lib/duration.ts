/**
 * Latchkey's duration syntax, checked at synth time so that a bad value fails
 * `cdk synth` instead of a running task.
 *
 * Latchkey parses durations with github.com/xhit/go-str2duration/v2 (see
 * shared/DEPENDENCIES.md): Go's time.ParseDuration grammar with two extra
 * units, d (24h) and w (7d). This is a port of that grammar:
 *
 *   [-+]? ( [0-9]* ( "." [0-9]* )? unit )+     or the bare string "0"
 *   unit = ns | us | µs | μs | ms | s | m | h | d | w
 *
 * Values are computed in nanoseconds with BigInt so overflow of Go's int64
 * is reported exactly where Go would report it.
 */

const NANOS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // micro sign
  ['\u03bcs', 1_000n], // Greek small letter mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60n * 1_000_000_000n],
  ['h', 3_600n * 1_000_000_000n],
  ['d', 24n * 3_600n * 1_000_000_000n],
  ['w', 7n * 24n * 3_600n * 1_000_000_000n],
]);

const INT64_MAX = (1n << 63n) - 1n;

export class DurationSyntaxError extends Error {}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';

/**
 * Parses a Latchkey duration and returns it in nanoseconds (negative for a
 * leading '-'). Throws DurationSyntaxError with Go's wording on bad input.
 */
export function parseDuration(input: string): bigint {
  const invalid = () => new DurationSyntaxError(`invalid duration "${input}"`);
  let s = input;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  const limit = neg ? INT64_MAX + 1n : INT64_MAX;
  if (s === '0') return 0n;
  if (s === '') throw invalid();

  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw invalid();

    let i = 0;
    while (i < s.length && isDigit(s[i])) i++;
    const intDigits = s.slice(0, i);
    s = s.slice(i);

    let fracDigits = '';
    if (s !== '' && s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      while (j < s.length && isDigit(s[j])) j++;
      fracDigits = s.slice(0, j);
      s = s.slice(j);
    }
    if (intDigits === '' && fracDigits === '') throw invalid(); // ".s", "-.h"

    let k = 0;
    while (k < s.length && s[k] !== '.' && !isDigit(s[k])) k++;
    if (k === 0) throw new DurationSyntaxError(`missing unit in duration "${input}"`);
    const unitName = s.slice(0, k);
    s = s.slice(k);
    const unit = NANOS_PER_UNIT.get(unitName);
    if (unit === undefined) {
      throw new DurationSyntaxError(`unknown unit "${unitName}" in duration "${input}"`);
    }

    const whole = intDigits === '' ? 0n : BigInt(intDigits);
    if (whole > 1n << 63n) throw invalid();
    let v = whole * unit;
    if (v > limit) throw invalid();
    if (fracDigits !== '') {
      // Go keeps at most ~18 fraction digits; truncating to 18 is equivalent
      // for any unit up to a week.
      const f = fracDigits.slice(0, 18);
      v += (BigInt(f) * unit) / 10n ** BigInt(f.length);
      if (v > limit) throw invalid();
    }
    total += v;
    if (total > limit) throw invalid();
  }
  return neg ? -total : total;
}

/** True when `input` is a duration Latchkey accepts (any sign). */
export function isValidDuration(input: string): boolean {
  try {
    parseDuration(input);
    return true;
  } catch (e) {
    if (e instanceof DurationSyntaxError) return false;
    throw e;
  }
}
