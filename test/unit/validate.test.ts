import { describe as suite, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import {
  assertBoolean,
  assertFiniteNumber,
  assertIntInRange,
  assertNonNegativeInt,
  assertOneOf,
  assertPlainObject,
  assertPositiveInt,
  assertString,
  checkOptions,
  editDistance,
  isFiniteNumber,
  isFloatArray,
  isInteger,
  isNonNegativeInteger,
  isPlainObject,
  isPositiveInteger,
  isTypedArray,
  suggestKey,
} from '../../lib/validate.js';

/** Runs fn, expecting an InvalidArgumentError, and returns it. */
function catchArg(fn: () => void): InvalidArgumentError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

suite('predicates', () => {
  it('isPlainObject', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject({ a: 1 })).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(new Map())).toBe(false);
    expect(isPlainObject(new (class X {})())).toBe(false);
    expect(isPlainObject('x')).toBe(false);
  });

  it('integers', () => {
    expect([1, 0, -1, 2.5, NaN, Infinity, '1', 1n].map(isInteger)).toEqual([true, true, true, false, false, false, false, false]);
    expect([1, 0, -1, 2.5, 2 ** 53].map(isPositiveInteger)).toEqual([true, false, false, false, false]);
    expect([1, 0, -1, 2.5, -0].map(isNonNegativeInteger)).toEqual([true, true, false, false, true]);
    expect([1.5, NaN, -Infinity, '1'].map(isFiniteNumber)).toEqual([true, false, false, false]);
  });

  it('typed arrays', () => {
    expect(isFloatArray(new Float32Array(1))).toBe(true);
    expect(isFloatArray(new Float64Array(1))).toBe(true);
    expect(isFloatArray(new Int32Array(1))).toBe(false);
    expect(isFloatArray([1.5])).toBe(false);
    expect(isTypedArray(new Uint8Array(1))).toBe(true);
    expect(isTypedArray(new BigInt64Array(1))).toBe(true);
    expect(isTypedArray(new DataView(new ArrayBuffer(1)))).toBe(false);
    expect(isTypedArray(new ArrayBuffer(1))).toBe(false);
  });
});

suite('assertions', () => {
  it('assertPositiveInt', () => {
    expect(() => assertPositiveInt(3, 'hiddenSize')).not.toThrow();
    const e = catchArg(() => assertPositiveInt(0, 'hiddenSize'));
    expect(e.message).toBe('Expected positive integer for hiddenSize but received 0 (number)');
    expect(e.param).toBe('hiddenSize');
    expect(catchArg(() => assertPositiveInt('3', 'n')).message).toContain('"3" (string)');
    expect(catchArg(() => assertPositiveInt(1.5, 'n')).received).toBe('1.5 (number)');
  });

  it('assertNonNegativeInt / assertIntInRange / assertFiniteNumber', () => {
    expect(() => assertNonNegativeInt(0, 'n')).not.toThrow();
    expect(catchArg(() => assertNonNegativeInt(-1, 'n')).message).toBe(
      'Expected non-negative integer for n but received -1 (number)',
    );
    expect(() => assertIntInRange(4, 'k', 1, 4)).not.toThrow();
    expect(catchArg(() => assertIntInRange(5, 'k', 1, 4)).expected).toBe('integer between 1 and 4');
    expect(() => assertFiniteNumber(0.1, 'lr', { min: 0 })).not.toThrow();
    expect(catchArg(() => assertFiniteNumber(NaN, 'lr')).message).toBe('Expected finite number for lr but received NaN (number)');
    expect(catchArg(() => assertFiniteNumber(-1, 'lr', { min: 0 })).expected).toBe('number >= 0');
    expect(catchArg(() => assertFiniteNumber(2, 'p', { min: 0, max: 1 })).expected).toBe('number between 0 and 1');
  });

  it('assertBoolean / assertString / assertPlainObject', () => {
    expect(() => assertBoolean(false, 'bias')).not.toThrow();
    expect(catchArg(() => assertBoolean(1, 'bias')).message).toBe('Expected boolean for bias but received 1 (number)');
    expect(() => assertString('', 's')).not.toThrow();
    expect(catchArg(() => assertString('', 's', true)).expected).toBe('non-empty string');
    expect(() => assertPlainObject({}, 'options')).not.toThrow();
    expect(catchArg(() => assertPlainObject([], 'options')).message).toBe(
      'Expected plain object for options but received [] (array of length 0)',
    );
  });

  it('assertOneOf lists the choices', () => {
    expect(() => assertOneOf('cpu', 'device', ['auto', 'cpu', 'cuda'])).not.toThrow();
    const e = catchArg(() => assertOneOf('gpu', 'device', ['auto', 'cpu', 'cuda']));
    expect(e.message).toBe(`Expected one of 'auto', 'cpu', 'cuda' for device but received "gpu" (string)`);
    expect(catchArg(() => assertOneOf(3, 'n', [1, 2])).expected).toBe('one of 1, 2');
  });
});

suite('checkOptions and hints', () => {
  const known = ['inputSize', 'hiddenSize', 'numLayers', 'bidirectional', 'batchFirst', 'bias', 'h0', 'c0'];

  it('accepts undefined and known keys', () => {
    expect(() => checkOptions(undefined, 'options', known)).not.toThrow();
    expect(() => checkOptions({ hiddenSize: 8, bias: true }, 'options', known)).not.toThrow();
  });

  it('rejects a non-object', () => {
    expect(catchArg(() => checkOptions(5, 'options', known)).message).toBe(
      'Expected plain object for options but received 5 (number)',
    );
  });

  it('suggests the camelCase spelling for snake_case keys', () => {
    const e = catchArg(() => checkOptions({ hidden_size: 8 }, 'options', known));
    expect(e.message).toBe("Unknown option 'hidden_size' in options; did you mean 'hiddenSize'?");
    expect(e.param).toBe('options.hidden_size');
    expect(catchArg(() => checkOptions({ HIDDENSIZE: 8 }, 'options', known)).message).toContain("did you mean 'hiddenSize'?");
    expect(catchArg(() => checkOptions({ batch_first: 8 }, 'options', known)).message).toContain("'batchFirst'");
  });

  it('suggests close misspellings', () => {
    expect(catchArg(() => checkOptions({ hidenSize: 8 }, 'opts', known)).message).toContain("did you mean 'hiddenSize'?");
    expect(catchArg(() => checkOptions({ numLayer: 1 }, 'opts', known)).message).toContain("did you mean 'numLayers'?");
    expect(catchArg(() => checkOptions({ bias_: 1 }, 'opts', known)).message).toContain("did you mean 'bias'?");
  });

  it('lists known options when nothing is close', () => {
    const e = catchArg(() => checkOptions({ dropout: 0.1 }, 'options', known));
    expect(e.message).toBe(`Unknown option 'dropout' in options; known options: ${known.join(', ')}`);
    expect(catchArg(() => checkOptions({ x: 1 }, 'o', [])).message).toBe("Unknown option 'x' in o; no options are accepted");
  });

  it('suggestKey limits distance for short keys', () => {
    expect(suggestKey('h1', known)).toBe('h0');
    expect(suggestKey('x', known)).toBeUndefined();
    expect(suggestKey('zzzzzz', known)).toBeUndefined();
  });

  it('editDistance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
    expect(editDistance('abcdef', 'uvwxyz', 2)).toBe(3);
  });
});
