/**
 * Writes small ONNX models with the same protobufjs schema the loader reads: used by the tests
 * (hand-made graphs) and handy for building ONNX files from TypeScript.
 */
import { AttrType, DataType, onnxType } from './proto.js';

export type AttrValue = number | string | number[] | string[] | { tensor: TensorSpec } | { float: number } | { floats: number[] };

export interface TensorSpec {
  name?: string;
  type: 'float' | 'double' | 'int64' | 'int32' | 'bool';
  dims: number[];
  values: ArrayLike<number>;
  /** Store the values in raw_data (default) or in the typed repeated field. */
  raw?: boolean;
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

export interface ValueSpec {
  name: string;
  type: TensorSpec['type'];
  /** Dims: numbers, or strings for symbolic ones. */
  shape?: (number | string)[];
}

export interface ModelSpec {
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: TensorSpec[];
  opset?: number;
}

const TYPE: Record<TensorSpec['type'], number> = {
  float: DataType.FLOAT,
  double: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
};

/** A TensorProto as a protobufjs plain object. */
export function tensorObject(t: TensorSpec): Record<string, unknown> {
  const o: Record<string, unknown> = { name: t.name ?? '', dims: t.dims, dataType: TYPE[t.type] };
  const vals = Array.from(t.values);
  if (t.raw === false) {
    if (t.type === 'float') o.floatData = vals;
    else if (t.type === 'double') o.doubleData = vals;
    else if (t.type === 'int64') o.int64Data = vals;
    else o.int32Data = vals;
    return o;
  }
  const size = { float: 4, double: 8, int64: 8, int32: 4, bool: 1 }[t.type];
  const buf = new Uint8Array(vals.length * size);
  const dv = new DataView(buf.buffer);
  vals.forEach((v, i) => {
    if (t.type === 'float') dv.setFloat32(i * 4, v, true);
    else if (t.type === 'double') dv.setFloat64(i * 8, v, true);
    else if (t.type === 'int64') dv.setBigInt64(i * 8, v >= 2 ** 63 ? 2n ** 63n - 1n : v <= -(2 ** 63) ? -(2n ** 63n) : BigInt(v), true);
    else if (t.type === 'int32') dv.setInt32(i * 4, v, true);
    else dv.setUint8(i, v ? 1 : 0);
  });
  o.rawData = buf;
  return o;
}

function attrObject(name: string, v: AttrValue): Record<string, unknown> {
  const enc = new TextEncoder();
  if (typeof v === 'number') return { name, type: AttrType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: enc.encode(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, type: AttrType.STRINGS, strings: (v as string[]).map((s) => enc.encode(s)) };
    return { name, type: AttrType.INTS, ints: v };
  }
  if ('tensor' in v) return { name, type: AttrType.TENSOR, t: tensorObject(v.tensor) };
  if ('float' in v) return { name, type: AttrType.FLOAT, f: v.float };
  return { name, type: AttrType.FLOATS, floats: v.floats };
}

function valueInfo(v: ValueSpec): Record<string, unknown> {
  const tt: Record<string, unknown> = { elemType: TYPE[v.type] };
  if (v.shape) tt.shape = { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name: v.name, type: { tensorType: tt } };
}

/** Encodes a ModelProto. */
export function encodeOnnxModel(spec: ModelSpec): Uint8Array {
  const model = {
    irVersion: 8,
    producerName: 'rnnx',
    opsetImport: [{ domain: '', version: spec.opset ?? 14 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `n${i}`,
        opType: n.op,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrObject(k, v)),
      })),
      initializer: (spec.initializers ?? []).map(tensorObject),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  };
  const T = onnxType('ModelProto');
  return T.encode(T.fromObject(model)).finish();
}
