/**
 * `Tensor`: a typed array plus a row-major shape. The data is never copied on construction,
 * so a tensor can wrap a buffer that the native core reads in place.
 */
import { InvalidArgumentError, ShapeError, describe, dtypeError, formatShape, invalidArg } from './errors.js';
import { assertOneOf } from './validate.js';

/** Element types a tensor can hold. */
export type DType = 'float32' | 'float64' | 'int32';

/** Typed arrays a tensor can wrap. */
export type TensorData = Float32Array | Float64Array | Int32Array;

/** Typed array type for a dtype. */
export type DataFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : Int32Array;

/** A number or (possibly nested) array of numbers; typed arrays are accepted as leaves. */
export type NestedArray = number | readonly NestedArray[] | Float32Array | Float64Array | Int32Array;

/** The dtypes, in a fixed order. */
export const DTYPES: readonly DType[] = Object.freeze(['float32', 'float64', 'int32'] as const);

const MAX_RANK = 32;
const TENSOR_BRAND = Symbol.for('rnnx.Tensor');
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** The dtype of a typed array, or `undefined` if it is not one a tensor can hold. */
export function dtypeOf(data: unknown): DType | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return undefined;
}

/** A new zero-filled typed array of `dtype` with `length` elements. */
export function allocData<D extends DType>(dtype: D, length: number): DataFor<D> {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length) as DataFor<D>;
    case 'float64':
      return new Float64Array(length) as DataFor<D>;
    default:
      return new Int32Array(length) as DataFor<D>;
  }
}

/** Number of elements of a shape (1 for `[]`). No validation. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `true` if both shapes have the same rank and dimensions. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The frozen shapes this module made (checkShape's copies): immutable and already validated, so a
 * tensor given one (`new Tensor(d, t.shape)`, a stream's output shape) shares it instead of copying
 * and re-checking it.
 */
const CHECKED_SHAPES = new WeakSet<readonly number[]>();

/** Validates a shape argument and returns a frozen copy (or the argument, when it is one). */
export function checkShape(shape: unknown, param: string): readonly number[] {
  if (CHECKED_SHAPES.has(shape as readonly number[])) return shape as readonly number[];
  if (!Array.isArray(shape)) throw invalidArg(param, 'array of non-negative integers', shape);
  if (shape.length > MAX_RANK) throw invalidArg(param, `array of at most ${MAX_RANK} dimensions`, shape);
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!Number.isSafeInteger(d) || (d as number) < 0) {
      throw new InvalidArgumentError(
        `Expected array of non-negative integers for ${param} but received ${describe(shape)}: ` +
          `${param}[${i}] is ${describe(d)}`,
        { param, expected: 'array of non-negative integers', received: describe(shape) },
      );
    }
  }
  const frozen = Object.freeze(shape.slice() as number[]);
  CHECKED_SHAPES.add(frozen);
  return frozen;
}

/**
 * A dense, row-major tensor over a `Float32Array`, `Float64Array` or `Int32Array`.
 *
 * ```ts
 * const t = new Tensor(new Float32Array(6), [2, 3]);   // wraps the array, no copy
 * ```
 */
export class Tensor<D extends TensorData = TensorData> {
  /** The elements, row-major. Shared with whoever created the tensor (never copied). */
  readonly data: D;
  /** Dimensions (frozen). */
  readonly shape: readonly number[];

  /**
   * @param data the elements, row-major; used in place
   * @param shape dimensions; their product must equal `data.length`
   * @throws DTypeError if `data` is not a Float32Array, Float64Array or Int32Array
   * @throws InvalidArgumentError if `shape` is not an array of non-negative integers
   * @throws ShapeError if the shape does not describe `data.length` elements
   */
  constructor(data: D, shape: readonly number[]) {
    if (dtypeOf(data) === undefined) throw dtypeError('data', 'Float32Array, Float64Array or Int32Array', data);
    const frozen = checkShape(shape, 'shape');
    const size = shapeSize(frozen);
    if (size !== data.length) {
      const expected = `${size} elements (shape ${formatShape(frozen)})`;
      const received = `${data.constructor.name}(${data.length})`;
      throw new ShapeError(`Expected ${expected} for data but received ${received}`, {
        param: 'data',
        expected,
        received,
      });
    }
    this.data = data;
    this.shape = frozen;
  }

  /** `true` if `x` is a Tensor (also one created by another copy of this module). */
  static isTensor(x: unknown): x is Tensor {
    return x instanceof Tensor || (typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[TENSOR_BRAND] === true);
  }

  /** A zero-filled tensor. */
  static zeros(shape: readonly number[]): Tensor<Float32Array>;
  static zeros<T extends DType>(shape: readonly number[], dtype: T): Tensor<DataFor<T>>;
  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    assertOneOf(dtype, 'dtype', DTYPES);
    const s = checkShape(shape, 'shape');
    const size = shapeSize(s);
    if (size > 2 ** 32) throw invalidArg('shape', 'shape of at most 2^32 elements', shape);
    return new Tensor(allocData(dtype, size), s);
  }

  /**
   * A tensor from nested arrays of numbers; the shape is inferred and ragged input rejected.
   * A plain number gives a rank-0 tensor. Typed arrays are accepted as innermost rows.
   * For `'int32'`, every value must be an integer in the int32 range.
   */
  static from(values: NestedArray): Tensor<Float32Array>;
  static from<T extends DType>(values: NestedArray, dtype: T): Tensor<DataFor<T>>;
  static from(values: NestedArray, dtype: DType = 'float32'): Tensor {
    assertOneOf(dtype, 'dtype', DTYPES);
    // infer the shape by walking the first element at each level
    const shape: number[] = [];
    let cur: unknown = values;
    while (typeof cur !== 'number') {
      if (Array.isArray(cur)) {
        if (shape.length >= MAX_RANK) throw invalidArg('values', `nesting of at most ${MAX_RANK} levels`, values);
        shape.push(cur.length);
        if (cur.length === 0) break;
        cur = cur[0];
      } else if (cur instanceof Float32Array || cur instanceof Float64Array || cur instanceof Int32Array) {
        shape.push(cur.length);
        break;
      } else {
        throw invalidArg(shape.length === 0 ? 'values' : `values${'[0]'.repeat(shape.length)}`, 'number or array of numbers', cur);
      }
    }
    const size = shapeSize(shape);
    const out = allocData(dtype, size);
    const isInt = dtype === 'int32';
    let pos = 0;
    const put = (v: unknown, path: string): void => {
      if (typeof v !== 'number') throw invalidArg(path, 'number', v);
      if (isInt && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) {
        throw invalidArg(path, 'integer in the int32 range', v);
      }
      out[pos++] = v;
    };
    const walk = (v: unknown, depth: number, path: string): void => {
      if (depth === shape.length) {
        put(v, path);
        return;
      }
      const n = shape[depth] as number;
      const isTyped = v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array;
      if (isTyped && depth !== shape.length - 1) {
        throw new ShapeError(`Expected array of length ${n} holding arrays for ${path} but received ${describe(v)}`, {
          param: path,
          expected: `array of length ${n}`,
          received: describe(v),
        });
      }
      if (!Array.isArray(v) && !isTyped) {
        throw new ShapeError(`Expected array of length ${n} for ${path} but received ${describe(v)} (ragged input)`, {
          param: path,
          expected: `array of length ${n}`,
          received: describe(v),
        });
      }
      const arr = v as ArrayLike<unknown>;
      if (arr.length !== n) {
        throw new ShapeError(
          `Expected array of length ${n} for ${path} but received ${describe(v)} (ragged input)`,
          { param: path, expected: `array of length ${n}`, received: describe(v) },
        );
      }
      for (let i = 0; i < n; i++) walk(arr[i], depth + 1, `${path}[${i}]`);
    };
    walk(values, 0, 'values');
    return new Tensor(out, shape);
  }

  /** `'float32'`, `'float64'` or `'int32'`, from the data's type. */
  get dtype(): DType {
    return dtypeOf(this.data) as DType;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /**
   * A view with another shape over the same data (no copy). One dimension may be `-1`,
   * inferred from the others.
   */
  reshape(shape: readonly number[]): Tensor<D> {
    if (!Array.isArray(shape)) throw invalidArg('shape', 'array of integers (one may be -1)', shape);
    let infer = -1;
    let known = 1;
    for (let i = 0; i < shape.length; i++) {
      const d: unknown = shape[i];
      if (d === -1 && infer === -1) {
        infer = i;
        continue;
      }
      if (!Number.isSafeInteger(d) || (d as number) < 0) {
        throw invalidArg('shape', 'array of non-negative integers with at most one -1', shape);
      }
      known *= d as number;
    }
    const resolved = shape.slice() as number[];
    if (infer !== -1) {
      if (known === 0 || this.size % known !== 0) {
        throw new ShapeError(
          `Cannot reshape ${formatShape(this.shape)} (${this.size} elements) to ${formatShape(shape)}`,
          { param: 'shape', expected: `shape of ${this.size} elements`, received: formatShape(shape) },
        );
      }
      resolved[infer] = this.size / known;
    } else if (known !== this.size) {
      throw new ShapeError(
        `Cannot reshape ${formatShape(this.shape)} (${this.size} elements) to ${formatShape(shape)}`,
        { param: 'shape', expected: `shape of ${this.size} elements`, received: formatShape(shape) },
      );
    }
    return new Tensor(this.data, resolved);
  }

  /** A tensor with a copy of the data. */
  clone(): Tensor<D> {
    return new Tensor(this.data.slice() as D, this.shape);
  }

  /** The elements as nested plain arrays (a number for rank 0). */
  toArray(): NestedArray {
    const data = this.data;
    const shape = this.shape;
    if (shape.length === 0) return data[0] as number;
    let pos = 0;
    const build = (depth: number): NestedArray[] | number[] => {
      const n = shape[depth] as number;
      if (depth === shape.length - 1) {
        const row = Array.from(data.subarray(pos, pos + n));
        pos += n;
        return row;
      }
      const out: NestedArray[] = new Array<NestedArray>(n);
      for (let i = 0; i < n; i++) out[i] = build(depth + 1);
      return out;
    };
    return build(0);
  }

  /** The element at `indices` (one per dimension, each in `[0, dim)`). */
  get(...indices: number[]): number {
    if (indices.length !== this.shape.length) {
      throw invalidArg('indices', `${this.shape.length} indices for shape ${formatShape(this.shape)}`, indices);
    }
    let offset = 0;
    for (let i = 0; i < indices.length; i++) {
      const idx = indices[i];
      const dim = this.shape[i] as number;
      if (!Number.isInteger(idx) || (idx as number) < 0 || (idx as number) >= dim) {
        throw invalidArg(`indices[${i}]`, `integer in [0, ${dim})`, idx);
      }
      offset = offset * dim + (idx as number);
    }
    return this.data[offset] as number;
  }

  /** `Tensor(float32, [2, 3]) [0, 1, 2, 3, 4, 5]`, at most 8 values shown. */
  toString(): string {
    const n = Math.min(this.size, 8);
    const shown = Array.from(this.data.subarray(0, n), (v) => String(v));
    if (this.size > n) shown.push('…');
    return `Tensor(${this.dtype}, ${formatShape(this.shape)}) [${shown.join(', ')}]`;
  }

  [INSPECT](): string {
    return this.toString();
  }

  get [Symbol.toStringTag](): string {
    return 'Tensor';
  }
}

Object.defineProperty(Tensor.prototype, TENSOR_BRAND, { value: true, enumerable: false });
