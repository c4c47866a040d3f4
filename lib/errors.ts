/**
 * Error classes of rnnx and the helpers that build them.
 *
 * Every error thrown by the library is an {@link RnnxError} with a stable string `code`
 * (`RNNX_*`), so callers can branch on `err.code` without depending on message text.
 * Argument errors also carry `param`, `expected` and `received`, and their message always
 * has the same shape: `Expected <expected> for <param> but received <received>`.
 *
 * Errors raised by the native addon are plain `Error`s with a `code`; {@link fromNative}
 * turns them into the matching subclass.
 */

/** Extra fields accepted by every rnnx error constructor. */
export interface RnnxErrorOptions {
  /** Name of the offending parameter (e.g. `'x'`, `'options.hiddenSize'`). */
  param?: string;
  /** What was expected, in words (e.g. `'positive integer'`). */
  expected?: string;
  /** What was received, as produced by {@link describe}. */
  received?: string;
  /** The underlying error, if any (standard `Error` `cause`). */
  cause?: unknown;
}

/** Base class of every error thrown by rnnx. */
export class RnnxError extends Error {
  /** Stable machine-readable code, `RNNX_*`. */
  code: string;
  declare param?: string;
  declare expected?: string;
  declare received?: string;

  /**
   * @param message human-readable message
   * @param code stable error code (`RNNX_*`); subclasses fix their own
   * @param options `param` / `expected` / `received` / `cause`
   */
  constructor(message: string, code = 'RNNX_ERROR', options: RnnxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.param !== undefined) this.param = options.param;
    if (options.expected !== undefined) this.expected = options.expected;
    if (options.received !== undefined) this.received = options.received;
    if (typeof Error.captureStackTrace === 'function') Error.captureStackTrace(this, new.target);
  }
}

/** A function argument or option has the wrong type or value. */
export class InvalidArgumentError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_INVALID_ARGUMENT', options);
  }
}

/** Tensor shapes do not match what an operation needs. */
export class ShapeError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_SHAPE_MISMATCH', options);
  }
}

/** A tensor or typed array has the wrong element type. */
export class DTypeError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_DTYPE', options);
  }
}

/** The object (model, layer, stream) was disposed and cannot be used any more. */
export class DisposedError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_DISPOSED', options);
  }
}

/** The object is running another call; rnnx objects are not re-entrant. */
export class BusyError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_BUSY', options);
  }
}

/** The requested backend (e.g. `device: 'cuda'`) is not compiled in or not usable here. */
export class BackendUnavailableError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_BACKEND_UNAVAILABLE', options);
  }
}

/** A CUDA runtime or cuBLAS call failed. */
export class CudaError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_CUDA', options);
  }
}

/** Options of {@link ModelFormatError}. */
export interface ModelFormatErrorOptions extends RnnxErrorOptions {
  /** Replace the default message (`Invalid model file <file>: <reason>`). */
  message?: string;
}

/**
 * A model file (or in-memory model buffer) is malformed or unsupported.
 * Message: `Invalid model file <file>: <reason>`.
 */
export class ModelFormatError extends RnnxError {
  declare file?: string;
  /** What is wrong with the file, without the file name. */
  reason: string;

  /**
   * @param file path (or label such as `'<buffer>'`) of the model; may be undefined
   * @param reason what is wrong, in words
   */
  constructor(file: string | undefined, reason: string, options: ModelFormatErrorOptions = {}) {
    const message =
      options.message ?? (file === undefined ? `Invalid model file: ${reason}` : `Invalid model file ${file}: ${reason}`);
    super(message, 'RNNX_MODEL_FORMAT', options);
    if (file !== undefined) this.file = file;
    this.reason = reason;
  }
}

/** A native (or GPU) allocation failed. */
export class OutOfMemoryError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_OUT_OF_MEMORY', options);
  }
}

/** The operation was cancelled through an `AbortSignal`. */
export class AbortError extends RnnxError {
  constructor(message = 'The operation was aborted', options?: RnnxErrorOptions) {
    super(message, 'RNNX_ABORTED', options);
  }
}

/** The native addon binary could not be found or loaded. */
export class BinaryLoadError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_BINARY_LOAD', options);
  }
}

/** A bug in rnnx: an invariant did not hold. Please report it. */
export class InternalError extends RnnxError {
  constructor(message: string, options?: RnnxErrorOptions) {
    super(message, 'RNNX_INTERNAL', options);
  }
}

// `name` lives on each prototype (not as an own field), so it is shared, non-enumerable
// and shows up in stacks and `util.inspect` the way built-in errors do.
const errorClasses = {
  RnnxError,
  InvalidArgumentError,
  ShapeError,
  DTypeError,
  DisposedError,
  BusyError,
  BackendUnavailableError,
  CudaError,
  ModelFormatError,
  OutOfMemoryError,
  AbortError,
  BinaryLoadError,
  InternalError,
} as const;
for (const [name, cls] of Object.entries(errorClasses)) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false });
}

type SimpleErrorClass = new (message: string, options?: RnnxErrorOptions) => RnnxError;

/** Error code → the subclass that carries it (ModelFormatError is handled apart). */
const classByCode: ReadonlyMap<string, SimpleErrorClass> = new Map<string, SimpleErrorClass>([
  ['RNNX_INVALID_ARGUMENT', InvalidArgumentError],
  ['RNNX_SHAPE_MISMATCH', ShapeError],
  ['RNNX_DTYPE', DTypeError],
  ['RNNX_DISPOSED', DisposedError],
  ['RNNX_BUSY', BusyError],
  ['RNNX_BACKEND_UNAVAILABLE', BackendUnavailableError],
  ['RNNX_CUDA', CudaError],
  ['RNNX_OUT_OF_MEMORY', OutOfMemoryError],
  ['RNNX_ABORTED', AbortError],
  ['RNNX_BINARY_LOAD', BinaryLoadError],
  ['RNNX_INTERNAL', InternalError],
]);

/** All error codes rnnx uses, keyed by class name. */
export const ErrorCodes = Object.freeze({
  RnnxError: 'RNNX_ERROR',
  InvalidArgumentError: 'RNNX_INVALID_ARGUMENT',
  ShapeError: 'RNNX_SHAPE_MISMATCH',
  DTypeError: 'RNNX_DTYPE',
  DisposedError: 'RNNX_DISPOSED',
  BusyError: 'RNNX_BUSY',
  BackendUnavailableError: 'RNNX_BACKEND_UNAVAILABLE',
  CudaError: 'RNNX_CUDA',
  ModelFormatError: 'RNNX_MODEL_FORMAT',
  OutOfMemoryError: 'RNNX_OUT_OF_MEMORY',
  AbortError: 'RNNX_ABORTED',
  BinaryLoadError: 'RNNX_BINARY_LOAD',
  InternalError: 'RNNX_INTERNAL',
} as const);

// ---------------------------------------------------------------------------------------------
// describe()

const MAX_STRING = 40;
const MAX_ITEMS = 8;

function describeNumber(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

function describeString(s: string): string {
  if (s.length <= MAX_STRING) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, MAX_STRING))}…`;
}

/** Short inline text of an array element (no type suffix), or undefined if not primitive. */
function inlinePrimitive(v: unknown): string | undefined {
  switch (typeof v) {
    case 'number':
      return describeNumber(v);
    case 'bigint':
      return `${v}n`;
    case 'boolean':
      return String(v);
    case 'string':
      return v.length <= 16 ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, 16))}…`;
    case 'undefined':
      return 'undefined';
    default:
      return v === null ? 'null' : undefined;
  }
}

function constructorName(value: object): string | undefined {
  const proto = Object.getPrototypeOf(value) as { constructor?: unknown } | null;
  if (proto === null) return undefined;
  const ctor = proto.constructor;
  if (typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '') return ctor.name;
  return undefined;
}

/**
 * Short text of a value together with its type, for error messages.
 *
 * Examples: `-3 (number)`, `"abc" (string)`, `NaN (number)`, `12n (bigint)`, `null`,
 * `undefined`, `Float64Array(12)`, `[1, 2, 3] (array of length 3)`, `object`,
 * `Tensor(float32, [2, 3])`. Long strings and arrays are truncated.
 */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'number':
      return `${describeNumber(value)} (number)`;
    case 'bigint':
      return `${value}n (bigint)`;
    case 'boolean':
      return `${value} (boolean)`;
    case 'string':
      return value.length <= MAX_STRING
        ? `${describeString(value)} (string)`
        : `${describeString(value)} (string of length ${value.length})`;
    case 'symbol':
      return `${value.toString()} (symbol)`;
    case 'function':
      return value.name ? `function ${value.name}` : 'function';
    default:
      break;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (Array.isArray(obj)) {
    const n = obj.length;
    const shown: string[] = [];
    for (let i = 0; i < Math.min(n, MAX_ITEMS); i++) {
      const s = inlinePrimitive(obj[i]);
      if (s === undefined) return `array of length ${n}`;
      shown.push(s);
    }
    const more = n > MAX_ITEMS ? ', …' : '';
    return `[${shown.join(', ')}${more}] (array of length ${n})`;
  }
  if (ArrayBuffer.isView(obj)) {
    const name = constructorName(obj) ?? 'ArrayBufferView';
    const len = obj instanceof DataView ? obj.byteLength : (obj as unknown as { length: number }).length;
    return `${name}(${len})`;
  }
  if (obj instanceof ArrayBuffer) return `ArrayBuffer(${obj.byteLength})`;
  if (typeof SharedArrayBuffer !== 'undefined' && obj instanceof SharedArrayBuffer) {
    return `SharedArrayBuffer(${obj.byteLength})`;
  }
  if (obj instanceof Map) return `Map(${obj.size})`;
  if (obj instanceof Set) return `Set(${obj.size})`;
  if (obj instanceof Date) return 'Date';
  if (obj instanceof RegExp) return `RegExp ${String(obj)}`;
  if (obj instanceof Error) return `${obj.name} object`;
  if (obj instanceof Promise) return 'Promise';
  const name = constructorName(obj);
  if (name === 'Tensor') {
    const t = obj as { dtype?: unknown; shape?: unknown };
    if (typeof t.dtype === 'string' && Array.isArray(t.shape)) {
      return `Tensor(${t.dtype}, ${formatShape(t.shape as readonly number[])})`;
    }
  }
  if (name === undefined || name === 'Object') return 'object';
  return `${name} object`;
}

/** `[2, 3, 4]` — the text rnnx uses for shapes in messages. */
export function formatShape(shape: readonly unknown[]): string {
  const items = shape.length > 16 ? [...shape.slice(0, 16).map(String), '…'] : shape.map(String);
  return `[${items.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------
// Helpers returning errors (throw them at the call site so stacks point there).

/**
 * `Expected <expected> for <param> but received <describe(actual)>`.
 * @example throw invalidArg('hiddenSize', 'positive integer', -3)
 */
export function invalidArg(param: string, expected: string, actual: unknown): InvalidArgumentError {
  const received = describe(actual);
  return new InvalidArgumentError(`Expected ${expected} for ${param} but received ${received}`, {
    param,
    expected,
    received,
  });
}

function isShapeLike(v: unknown): v is readonly number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number');
}

/**
 * `Expected shape [2, 3, 4] for x but received [2, 3]`.
 * @param expectedShape a shape, or a text description such as `'[T, B, 5]'`
 * @param actual the shape received (array of numbers), a tensor-like object with a `shape`, or
 *   any other value (then described with {@link describe})
 */
export function shapeError(
  param: string,
  expectedShape: readonly number[] | string,
  actual: unknown,
): ShapeError {
  const expected = `shape ${typeof expectedShape === 'string' ? expectedShape : formatShape(expectedShape)}`;
  let received: string;
  if (isShapeLike(actual)) {
    received = formatShape(actual);
  } else if (
    actual !== null &&
    typeof actual === 'object' &&
    !ArrayBuffer.isView(actual) &&
    isShapeLike((actual as { shape?: unknown }).shape)
  ) {
    received = formatShape((actual as { shape: readonly number[] }).shape);
  } else {
    received = describe(actual);
  }
  return new ShapeError(`Expected ${expected} for ${param} but received ${received}`, { param, expected, received });
}

/**
 * `Expected Float32Array for x but received Float64Array(12)`.
 * @param expected dtype(s) in words, e.g. `'float32 data'` or `'Float32Array or Int32Array'`
 * @param actual the offending value (typed array, dtype string, tensor, …)
 */
export function dtypeError(param: string, expected: string, actual: unknown): DTypeError {
  const received = describe(actual);
  return new DTypeError(`Expected ${expected} for ${param} but received ${received}`, { param, expected, received });
}

// ---------------------------------------------------------------------------------------------
// fromNative()

const ARGUMENT_CODES = new Set(['RNNX_INVALID_ARGUMENT', 'RNNX_SHAPE_MISMATCH', 'RNNX_DTYPE']);
// `x: …`, `options.hiddenSize: …`, `weights[2]: …`, `weight_ih_l0: …`
const PARAM_PREFIX = /^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*): ([\s\S]*)$/;
const EXPECTED_RECEIVED = /^expected ([\s\S]+?) but (?:received|got) ([\s\S]+)$/i;
const RESERVED_KEYS = new Set(['message', 'stack', 'code', 'name', 'cause', 'param', 'expected', 'received']);

function stackFrames(stack: string | undefined): string | undefined {
  if (typeof stack !== 'string') return undefined;
  const at = stack.indexOf('\n    at ');
  return at === -1 ? undefined : stack.slice(at);
}

function setStack(err: Error, stack: string): void {
  Object.defineProperty(err, 'stack', { value: stack, writable: true, configurable: true, enumerable: false });
}

/**
 * Converts an error thrown or returned by the native addon into the matching rnnx error.
 *
 * Native errors are plain `Error`s with a string `code` (`RNNX_*`). The subclass is picked by
 * code; an unknown code gives an {@link RnnxError} carrying that code; an error without a code
 * is returned unchanged (a non-error value becomes an {@link InternalError}). The message is
 * kept. For argument errors a leading `<param>: ` in the message fills `param` (and
 * `expected X but received Y` fills `expected` / `received`). Other own properties of the
 * native error (e.g. a CUDA status) are copied over.
 *
 * @param callSite an `Error` created by the caller *before* starting async work; its stack
 *   frames replace the new error's, so the error points at user code. Without it, the
 *   native error's own frames are kept.
 */
export function fromNative(err: unknown, callSite?: Error): Error {
  if (err instanceof RnnxError) {
    if (callSite !== undefined) {
      const frames = stackFrames(callSite.stack);
      if (frames !== undefined) setStack(err, `${err.name}: ${err.message}${frames}`);
    }
    return err;
  }
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) {
    const e = new InternalError(`Native code threw a non-error value: ${describe(err)}`);
    const frames = stackFrames(callSite?.stack);
    if (frames !== undefined) setStack(e, `${e.name}: ${e.message}${frames}`);
    return e;
  }
  const src = err as Record<string, unknown> & { message?: unknown; code?: unknown; stack?: unknown };
  if (typeof src.code !== 'string') {
    return err instanceof Error ? err : new InternalError(`Native code threw ${describe(err)}`);
  }
  const code = src.code;
  const message = typeof src.message === 'string' ? src.message : '';

  const options: RnnxErrorOptions = {};
  if (ARGUMENT_CODES.has(code)) {
    const m = PARAM_PREFIX.exec(message);
    if (m !== null && m[1] !== undefined) {
      options.param = m[1];
      const er = EXPECTED_RECEIVED.exec(m[2] ?? '');
      if (er !== null && er[1] !== undefined && er[2] !== undefined) {
        options.expected = er[1];
        options.received = er[2];
      }
    }
  }
  if (src.cause !== undefined) options.cause = src.cause;

  let out: RnnxError;
  if (code === 'RNNX_MODEL_FORMAT') {
    const file = typeof src.file === 'string' ? src.file : undefined;
    const reason = typeof src.reason === 'string' ? src.reason : message;
    out = new ModelFormatError(file, reason, { ...options, message });
  } else {
    const Cls = classByCode.get(code);
    out = Cls !== undefined ? new Cls(message, options) : new RnnxError(message, code, options);
  }
  for (const key of Object.keys(src)) {
    if (!RESERVED_KEYS.has(key) && !(key in out)) {
      (out as unknown as Record<string, unknown>)[key] = src[key];
    }
  }
  const frames = stackFrames(callSite?.stack) ?? stackFrames(typeof src.stack === 'string' ? src.stack : undefined);
  if (frames !== undefined) setStack(out, `${out.name}: ${out.message}${frames}`);
  return out;
}
