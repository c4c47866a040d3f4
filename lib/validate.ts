/**
 * Small predicates and assertion helpers shared across lib/.
 *
 * Predicates (`is*`) never throw. Assertions (`assert*`) throw an
 * {@link InvalidArgumentError} whose message follows the library's shape:
 * `Expected <what> for <param> but received <value> (<type>)`.
 */
import { InvalidArgumentError, describe, invalidArg } from './errors.js';

/** Any integer-or-float typed array (not BigInt64Array / BigUint64Array, not DataView). */
export type NumericTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** Any typed array, BigInt ones included. */
export type AnyTypedArray = NumericTypedArray | BigInt64Array | BigUint64Array;

/** `true` for `{}` / object literals / `Object.create(null)`; false for arrays, class instances, null. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A finite integer-valued number (`Number.isInteger`). */
export function isInteger(value: unknown): value is number {
  return Number.isInteger(value);
}

/** A safe integer ≥ 1. */
export function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/** A safe integer ≥ 0. */
export function isNonNegativeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** A number that is neither NaN nor ±Infinity. */
export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** `Float32Array` or `Float64Array`. */
export function isFloatArray(value: unknown): value is Float32Array | Float64Array {
  return value instanceof Float32Array || value instanceof Float64Array;
}

/** Any typed array (not a DataView). */
export function isTypedArray(value: unknown): value is AnyTypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** Throws unless `value` is a safe integer ≥ 1. */
export function assertPositiveInt(value: unknown, param: string): asserts value is number {
  if (!isPositiveInteger(value)) throw invalidArg(param, 'positive integer', value);
}

/** Throws unless `value` is a safe integer ≥ 0. */
export function assertNonNegativeInt(value: unknown, param: string): asserts value is number {
  if (!isNonNegativeInteger(value)) throw invalidArg(param, 'non-negative integer', value);
}

/** Throws unless `value` is an integer in `[min, max]` (inclusive). */
export function assertIntInRange(value: unknown, param: string, min: number, max: number): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw invalidArg(param, `integer between ${min} and ${max}`, value);
  }
}

/** Throws unless `value` is a finite number (optionally within `[min, max]`). */
export function assertFiniteNumber(
  value: unknown,
  param: string,
  range: { min?: number; max?: number } = {},
): asserts value is number {
  const { min, max } = range;
  const ok = isFiniteNumber(value) && (min === undefined || value >= min) && (max === undefined || value <= max);
  if (!ok) {
    let what = 'finite number';
    if (min !== undefined && max !== undefined) what = `number between ${min} and ${max}`;
    else if (min !== undefined) what = `number >= ${min}`;
    else if (max !== undefined) what = `number <= ${max}`;
    throw invalidArg(param, what, value);
  }
}

/** Throws unless `value` is `true` or `false`. */
export function assertBoolean(value: unknown, param: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArg(param, 'boolean', value);
}

/** Throws unless `value` is a string (optionally non-empty). */
export function assertString(value: unknown, param: string, nonEmpty = false): asserts value is string {
  if (typeof value !== 'string' || (nonEmpty && value.length === 0)) {
    throw invalidArg(param, nonEmpty ? 'non-empty string' : 'string', value);
  }
}

/** Throws unless `value` is one of `list` (compared with `===`). */
export function assertOneOf<const T>(value: unknown, param: string, list: readonly T[]): asserts value is T {
  if (!list.includes(value as T)) {
    const options = list.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
    const expected = options.length === 1 ? String(options[0]) : `one of ${options.join(', ')}`;
    throw invalidArg(param, expected, value);
  }
}

/** Throws unless `value` is a plain object (object literal). */
export function assertPlainObject(value: unknown, param: string): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) throw invalidArg(param, 'plain object', value);
}

// ---------------------------------------------------------------------------------------------
// Unknown-option detection with "did you mean" hints.

/** Levenshtein distance, giving up (returning `limit + 1`) once it exceeds `limit`. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      const v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    [prev, cur] = [cur, prev];
  }
  return prev[b.length] as number;
}

function normalizeKey(key: string): string {
  return key.replace(/[_\-\s]/g, '').toLowerCase();
}

/**
 * The known key the user probably meant by `key`: one equal up to case and `_`/`-`
 * (`hidden_size` → `hiddenSize`), else the closest by edit distance (≤ 2, ≤ 1 for keys of up
 * to 3 characters). `undefined` when nothing is close.
 */
export function suggestKey(key: string, knownKeys: readonly string[]): string | undefined {
  const norm = normalizeKey(key);
  for (const k of knownKeys) if (normalizeKey(k) === norm) return k;
  const limit = key.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestDist = limit + 1;
  for (const k of knownKeys) {
    const d = Math.min(editDistance(key, k, limit), editDistance(norm, normalizeKey(k), limit));
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return best;
}

/**
 * Checks an options object: `undefined` is accepted (no options); anything else must be a
 * plain object whose keys are all in `knownKeys`. An unknown key throws an
 * {@link InvalidArgumentError} with a "did you mean" hint when a known key is close.
 *
 * @example checkOptions(opts, 'options', ['inputSize', 'hiddenSize'])
 *   // { hidden_size: 8 } → "Unknown option 'hidden_size' in options; did you mean 'hiddenSize'?"
 */
export function checkOptions(
  obj: unknown,
  param: string,
  knownKeys: readonly string[],
): asserts obj is Record<string, unknown> | undefined {
  if (obj === undefined) return;
  assertPlainObject(obj, param);
  const known = new Set(knownKeys);
  for (const key of Object.keys(obj)) {
    if (known.has(key)) continue;
    const guess = suggestKey(key, knownKeys);
    let hint: string;
    if (guess !== undefined) hint = `; did you mean '${guess}'?`;
    else if (knownKeys.length === 0) hint = '; no options are accepted';
    else if (knownKeys.length <= 16) hint = `; known options: ${knownKeys.join(', ')}`;
    else hint = '';
    throw new InvalidArgumentError(`Unknown option '${key}' in ${param}${hint}`, {
      param: `${param}.${key}`,
      expected: guess !== undefined ? `'${guess}'` : 'a known option',
      received: describe(key),
    });
  }
}
