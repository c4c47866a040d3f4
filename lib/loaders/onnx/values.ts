/**
 * Values flowing through an ONNX graph: a dtype, a shape and a typed array. int64 is held in a
 * Float64Array (exact up to 2^53; larger values such as INT64_MAX in Slice ends saturate
 * harmlessly); bool in a Uint8Array.
 */
import { DataType, type TensorMsg } from './proto.js';

export type VDType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';
export type VData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface Val {
  dtype: VDType;
  shape: number[];
  data: VData;
}

/** Largest tensor (in elements) a graph may create, initializer or intermediate. */
export const MAX_ELEMENTS = 2 ** 26;
export const MAX_RANK = 32;

/** A failure inside one node or while reading the graph; turned into a ModelFormatError by the caller. */
export class GraphError extends Error {}

export function fail(reason: string): never {
  throw new GraphError(reason);
}

export function alloc(dtype: VDType, n: number): VData {
  if (!(n <= MAX_ELEMENTS)) fail(`a tensor of ${n} elements exceeds the limit of ${MAX_ELEMENTS}`);
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
    case 'int64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    default:
      return new Uint8Array(n);
  }
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Checks a shape for rank, non-negative safe integer dims and total size; returns it. */
export function checkShape(shape: readonly number[], what: string): number[] {
  if (shape.length > MAX_RANK) fail(`${what} has ${shape.length} dimensions (at most ${MAX_RANK})`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`${what} has an invalid dimension ${d}`);
    n *= d;
    if (n > MAX_ELEMENTS) fail(`${what} declares ${formatDims(shape)}, more than ${MAX_ELEMENTS} elements`);
  }
  return [...shape];
}

export function formatDims(shape: readonly unknown[]): string {
  const s = shape.slice(0, 8).map(String);
  if (shape.length > 8) s.push('…');
  return `[${s.join(', ')}]`;
}

export function makeVal(dtype: VDType, shape: number[], data?: VData): Val {
  const n = size(shape);
  if (data === undefined) data = alloc(dtype, n);
  else if (data.length !== n) fail(`internal: ${data.length} elements for shape ${formatDims(shape)}`);
  return { dtype, shape, data };
}

export function isFloat(v: Val): boolean {
  return v.dtype === 'float32' || v.dtype === 'float64';
}

export function isIntLike(v: Val): boolean {
  return v.dtype === 'int64' || v.dtype === 'int32';
}

/** Integer values of a 1-D (or scalar) int tensor as numbers. */
export function intList(v: Val, what: string): number[] {
  if (!isIntLike(v)) fail(`${what} must be an int64 or int32 tensor, not ${v.dtype}`);
  if (v.shape.length > 1) fail(`${what} must be 1-D, not of shape ${formatDims(v.shape)}`);
  return Array.from(v.data as ArrayLike<number>);
}

/** ONNX elem type → value dtype (undefined when rnnx cannot hold it). */
export function fromOnnxType(t: number): VDType | undefined {
  switch (t) {
    case DataType.FLOAT:
    case DataType.FLOAT16:
      return 'float32';
    case DataType.DOUBLE:
      return 'float64';
    case DataType.INT64:
      return 'int64';
    case DataType.INT32:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
      return 'int32';
    case DataType.BOOL:
      return 'bool';
    default:
      return undefined;
  }
}

const TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING',
  9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
};
export function onnxTypeName(t: number): string {
  return TYPE_NAMES[t] ?? `type ${t}`;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** A TensorProto (initializer or Constant value) as a value. Throws GraphError on any mismatch. */
export function tensorFromProto(t: TensorMsg, what: string): Val {
  if (t.external) fail(`${what} keeps its data in an external file, which rnnx does not read`);
  if (t.hasStrings || t.dataType === DataType.STRING) fail(`${what} is a string tensor, which rnnx does not support`);
  const shape = checkShape(t.dims, what);
  const n = size(shape);
  const dtype = fromOnnxType(t.dataType);
  if (dtype === undefined) fail(`${what} has data type ${onnxTypeName(t.dataType)}, which rnnx does not support`);
  const out = alloc(dtype, n);
  const raw = t.rawData;
  const elemBytes: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8 };
  if (raw !== null) {
    const eb = elemBytes[t.dataType] as number;
    if (raw.length !== n * eb)
      fail(`${what} has ${raw.length} bytes of raw data, but ${formatDims(shape)} of ${onnxTypeName(t.dataType)} needs ${n * eb}`);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      let v: number;
      switch (t.dataType) {
        case DataType.FLOAT: v = dv.getFloat32(i * 4, true); break;
        case DataType.DOUBLE: v = dv.getFloat64(i * 8, true); break;
        case DataType.INT64: v = Number(dv.getBigInt64(i * 8, true)); break;
        case DataType.INT32: v = dv.getInt32(i * 4, true); break;
        case DataType.INT16: v = dv.getInt16(i * 2, true); break;
        case DataType.UINT16: v = dv.getUint16(i * 2, true); break;
        case DataType.INT8: v = dv.getInt8(i); break;
        case DataType.FLOAT16: v = halfToFloat(dv.getUint16(i * 2, true)); break;
        case DataType.BOOL: v = dv.getUint8(i) !== 0 ? 1 : 0; break;
        default: v = dv.getUint8(i);
      }
      out[i] = v;
    }
    return { dtype, shape, data: out };
  }
  let src: number[];
  switch (t.dataType) {
    case DataType.FLOAT: src = t.floatData; break;
    case DataType.DOUBLE: src = t.doubleData; break;
    case DataType.INT64: src = t.int64Data; break;
    case DataType.FLOAT16:
      src = t.int32Data.map((h) => halfToFloat(h & 0xffff));
      break;
    default: src = t.int32Data;
  }
  if (src.length !== n) fail(`${what} holds ${src.length} values, but its shape ${formatDims(shape)} needs ${n}`);
  for (let i = 0; i < n; i++) out[i] = dtype === 'bool' ? (src[i] ? 1 : 0) : (src[i] as number);
  return { dtype, shape, data: out };
}

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i] as number;
  }
  return s;
}

/** Numpy broadcast of shapes. */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i] as number;
      const cur = out[o] as number;
      if (d === cur || d === 1) continue;
      if (cur === 1) out[o] = d;
      else fail(`shapes ${shapes.map((x) => formatDims(x)).join(' and ')} cannot be broadcast together`);
    }
  }
  checkShape(out, 'the broadcast result');
  return out;
}

/** For each output element (row-major over `outShape`), the index into a tensor of shape `inShape` broadcast to it. */
export function broadcastIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = size(outShape);
  const idx = new Int32Array(n);
  const rank = outShape.length;
  const off = rank - inShape.length;
  const inStr = strides(inShape);
  const eff = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) eff[off + i] = inShape[i] === 1 ? 0 : (inStr[i] as number);
  if (n === 0) return idx;
  const counter = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let k = 0; k < n; k++) {
    idx[k] = cur;
    for (let ax = rank - 1; ax >= 0; ax--) {
      counter[ax] = (counter[ax] as number) + 1;
      cur += eff[ax] as number;
      if ((counter[ax] as number) < (outShape[ax] as number)) break;
      cur -= (eff[ax] as number) * (outShape[ax] as number);
      counter[ax] = 0;
    }
  }
  return idx;
}

export function normAxis(axis: number, rank: number, what: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) fail(`${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}
