import { describe as suite, expect, it } from 'vitest';
import {
  AbortError,
  BackendUnavailableError,
  BinaryLoadError,
  BusyError,
  CudaError,
  DTypeError,
  DisposedError,
  ErrorCodes,
  InternalError,
  InvalidArgumentError,
  ModelFormatError,
  OutOfMemoryError,
  RnnxError,
  ShapeError,
  describe,
  dtypeError,
  fromNative,
  invalidArg,
  shapeError,
} from '../../lib/errors.js';

const table = [
  [InvalidArgumentError, 'RNNX_INVALID_ARGUMENT'],
  [ShapeError, 'RNNX_SHAPE_MISMATCH'],
  [DTypeError, 'RNNX_DTYPE'],
  [DisposedError, 'RNNX_DISPOSED'],
  [BusyError, 'RNNX_BUSY'],
  [BackendUnavailableError, 'RNNX_BACKEND_UNAVAILABLE'],
  [CudaError, 'RNNX_CUDA'],
  [OutOfMemoryError, 'RNNX_OUT_OF_MEMORY'],
  [AbortError, 'RNNX_ABORTED'],
  [BinaryLoadError, 'RNNX_BINARY_LOAD'],
  [InternalError, 'RNNX_INTERNAL'],
] as const;

/** Native errors are plain Errors with a code property. */
function nativeError(code: string | undefined, message: string): Error {
  const e = new Error(message) as Error & { code?: string };
  if (code !== undefined) e.code = code;
  return e;
}

suite('error classes', () => {
  it.each(table)('%o has its code, name on the prototype and a stack', (Cls, code) => {
    const e = new Cls('boom');
    expect(e).toBeInstanceOf(Cls);
    expect(e).toBeInstanceOf(RnnxError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(code);
    expect(e.message).toBe('boom');
    expect(e.name).toBe(Cls.name);
    expect(Object.prototype.hasOwnProperty.call(e, 'name')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(Cls.prototype, 'name')).toBe(true);
    expect(String(e)).toBe(`${Cls.name}: boom`);
    expect(e.stack).toMatch(new RegExp(`^${Cls.name}: boom\\n\\s+at `));
    // captureStackTrace drops the constructor frames: the first frame is this test file
    expect(e.stack?.split('\n')[1]).toContain('errors.test.ts');
    expect(ErrorCodes[Cls.name as keyof typeof ErrorCodes]).toBe(code);
  });

  it('RnnxError takes a code and the optional fields, without own undefined fields', () => {
    const e = new RnnxError('m', 'RNNX_SOMETHING', { param: 'x', expected: 'a', received: 'b', cause: 1 });
    expect(e.code).toBe('RNNX_SOMETHING');
    expect([e.param, e.expected, e.received, e.cause]).toEqual(['x', 'a', 'b', 1]);
    expect(e.name).toBe('RnnxError');
    const plain = new RnnxError('m');
    expect(plain.code).toBe('RNNX_ERROR');
    expect(Object.keys(plain)).toEqual(['code']);
    expect('cause' in plain).toBe(false);
  });

  it('ModelFormatError builds its message from file and reason', () => {
    const e = new ModelFormatError('/m/model.safetensors', 'header is not valid JSON');
    expect(e.message).toBe('Invalid model file /m/model.safetensors: header is not valid JSON');
    expect(e.file).toBe('/m/model.safetensors');
    expect(e.reason).toBe('header is not valid JSON');
    expect(e.code).toBe('RNNX_MODEL_FORMAT');
    expect(e.name).toBe('ModelFormatError');
    const noFile = new ModelFormatError(undefined, 'bad');
    expect(noFile.message).toBe('Invalid model file: bad');
    expect(noFile.file).toBeUndefined();
    const cause = new Error('inner');
    expect(new ModelFormatError('f', 'r', { cause }).cause).toBe(cause);
  });

  it('AbortError has a default message', () => {
    expect(new AbortError().message).toBe('The operation was aborted');
  });
});

suite('describe()', () => {
  it.each([
    [-3, '-3 (number)'],
    [0.5, '0.5 (number)'],
    [-0, '-0 (number)'],
    [NaN, 'NaN (number)'],
    [Infinity, 'Infinity (number)'],
    [12n, '12n (bigint)'],
    ['abc', '"abc" (string)'],
    ['', '"" (string)'],
    [true, 'true (boolean)'],
    [null, 'null'],
    [undefined, 'undefined'],
    [{}, 'object'],
    [Object.create(null), 'object'],
    [new Float64Array(12), 'Float64Array(12)'],
    [new Int32Array(0), 'Int32Array(0)'],
    [new ArrayBuffer(16), 'ArrayBuffer(16)'],
    [[1, 2, 3], '[1, 2, 3] (array of length 3)'],
    [[], '[] (array of length 0)'],
    [[{}, 1], 'array of length 2'],
    [new Map([[1, 2]]), 'Map(1)'],
    [Symbol('s'), 'Symbol(s) (symbol)'],
  ])('describe(%o) is %s', (value, text) => {
    expect(describe(value)).toBe(text);
  });

  it('truncates long strings and arrays', () => {
    const s = describe('x'.repeat(1000));
    expect(s.length).toBeLessThan(80);
    expect(s).toContain('…');
    expect(s).toContain('string of length 1000');
    const a = describe(Array.from({ length: 100 }, (_, i) => i));
    expect(a).toBe('[0, 1, 2, 3, 4, 5, 6, 7, …] (array of length 100)');
  });

  it('names class instances and functions', () => {
    class Foo {}
    expect(describe(new Foo())).toBe('Foo object');
    expect(describe(function bar() {})).toBe('function bar');
    expect(describe(new TypeError('x'))).toBe('TypeError object');
  });
});

suite('argument error helpers', () => {
  it('invalidArg has the sharp-style message and fields', () => {
    const e = invalidArg('hiddenSize', 'positive integer', -3);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toBe('Expected positive integer for hiddenSize but received -3 (number)');
    expect(e.param).toBe('hiddenSize');
    expect(e.expected).toBe('positive integer');
    expect(e.received).toBe('-3 (number)');
    expect(invalidArg('name', 'string', null).message).toBe('Expected string for name but received null');
  });

  it('shapeError formats shapes, descriptions and tensor-likes', () => {
    const e = shapeError('x', [2, 3, 4], [2, 3]);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.code).toBe('RNNX_SHAPE_MISMATCH');
    expect(e.message).toBe('Expected shape [2, 3, 4] for x but received [2, 3]');
    expect([e.param, e.expected, e.received]).toEqual(['x', 'shape [2, 3, 4]', '[2, 3]']);
    expect(shapeError('h0', '[L, B, 8]', [1, 2, 7]).message).toBe('Expected shape [L, B, 8] for h0 but received [1, 2, 7]');
    expect(shapeError('x', [5], { shape: [4] }).message).toBe('Expected shape [5] for x but received [4]');
    expect(shapeError('x', [5], 'nope').message).toBe('Expected shape [5] for x but received "nope" (string)');
  });

  it('dtypeError describes the received value', () => {
    const e = dtypeError('x', 'Float32Array', new Float64Array(12));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toBe('Expected Float32Array for x but received Float64Array(12)');
    expect([e.param, e.expected, e.received]).toEqual(['x', 'Float32Array', 'Float64Array(12)']);
  });
});

suite('fromNative()', () => {
  it.each(table)('maps the code of %o', (Cls, code) => {
    const out = fromNative(nativeError(code, 'native says no'));
    expect(out).toBeInstanceOf(Cls);
    expect((out as RnnxError).code).toBe(code);
    expect(out.message).toBe('native says no');
  });

  it('maps RNNX_MODEL_FORMAT keeping the message as is', () => {
    const out = fromNative(nativeError('RNNX_MODEL_FORMAT', 'weight_ih_l0 has 3 dimensions'));
    expect(out).toBeInstanceOf(ModelFormatError);
    expect(out.message).toBe('weight_ih_l0 has 3 dimensions');
    expect((out as ModelFormatError).reason).toBe('weight_ih_l0 has 3 dimensions');
  });

  it('keeps an unknown code on a plain RnnxError', () => {
    const out = fromNative(nativeError('RNNX_NEW_THING', 'hello'));
    expect(out.constructor).toBe(RnnxError);
    expect((out as RnnxError).code).toBe('RNNX_NEW_THING');
  });

  it('returns errors without a code unchanged', () => {
    const te = new TypeError('A number was expected');
    expect(fromNative(te)).toBe(te);
    const existing = new BusyError('busy');
    expect(fromNative(existing)).toBe(existing);
  });

  it('wraps non-error values as InternalError', () => {
    const out = fromNative('oops');
    expect(out).toBeInstanceOf(InternalError);
    expect(out.message).toContain('"oops" (string)');
  });

  it('parses the "<param>: expected … but received …" prefix of argument errors', () => {
    const out = fromNative(nativeError('RNNX_SHAPE_MISMATCH', 'x: expected length 60 but received 59')) as ShapeError;
    expect(out).toBeInstanceOf(ShapeError);
    expect(out.message).toBe('x: expected length 60 but received 59');
    expect(out.param).toBe('x');
    expect(out.expected).toBe('length 60');
    expect(out.received).toBe('59');
    const nested = fromNative(nativeError('RNNX_INVALID_ARGUMENT', 'options.hiddenSize: must be positive')) as RnnxError;
    expect(nested.param).toBe('options.hiddenSize');
    expect(nested.expected).toBeUndefined();
    // not an argument error: a "prefix:" is not a parameter name
    const cuda = fromNative(nativeError('RNNX_CUDA', 'cudaMalloc: out of memory')) as RnnxError;
    expect(cuda.param).toBeUndefined();
    // no prefix at all
    expect((fromNative(nativeError('RNNX_DTYPE', 'Float32Array expected')) as RnnxError).param).toBeUndefined();
  });

  it('copies extra native properties', () => {
    const e = nativeError('RNNX_CUDA', 'launch failed') as Error & { status?: number };
    e.status = 719;
    const out = fromNative(e) as CudaError & { status?: number };
    expect(out.status).toBe(719);
  });

  it('uses the call-site stack for async errors', async () => {
    function userCode(): Promise<never> {
      const callSite = new Error();
      return new Promise((_, reject) => {
        setImmediate(() => reject(fromNative(nativeError('RNNX_BUSY', 'model is busy'), callSite)));
      });
    }
    const err = (await userCode().catch((e: unknown) => e)) as BusyError;
    expect(err).toBeInstanceOf(BusyError);
    const lines = (err.stack ?? '').split('\n');
    expect(lines[0]).toBe('BusyError: model is busy');
    expect(lines[1]).toMatch(/^\s+at userCode /);
    expect(err.stack).not.toMatch(/processImmediate/);
  });

  it('keeps the native frames without a call site', () => {
    function nativeCall(): Error {
      return nativeError('RNNX_DISPOSED', 'model is disposed');
    }
    const out = fromNative(nativeCall());
    expect(out.stack?.split('\n')[0]).toBe('DisposedError: model is disposed');
    const frames = out.stack?.split('\n').slice(1) ?? [];
    expect(frames[0]).toMatch(/at nativeError /);
    expect(frames[1]).toMatch(/at nativeCall /);
  });

  it('re-stamps an existing RnnxError with the call site', () => {
    const callSite = new Error();
    const e = new InvalidArgumentError('bad');
    expect(fromNative(e, callSite)).toBe(e);
    expect(e.stack?.split('\n').slice(1).join('\n')).toBe(callSite.stack?.split('\n').slice(1).join('\n'));
  });
});
