/**
 * The part of onnx.proto (ONNX IR, github.com/onnx/onnx/blob/main/onnx/onnx.proto) that rnnx
 * reads, as a protobufjs reflection schema (field numbers and types follow onnx.proto; fields
 * rnnx does not use are left out, so protobufjs skips them). Decoding is done by protobufjs;
 * this module then turns the decoded message into plain, checked objects.
 */
import protobuf from 'protobufjs/light.js';
import { ModelFormatError } from '../../errors.js';

const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            stringData: { rule: 'repeated', type: 'bytes', id: 6 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: 'repeated', type: 'double', id: 10 },
            uint64Data: { rule: 'repeated', type: 'uint64', id: 11 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: {
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
              },
            },
          },
        },
        TypeProto: {
          fields: { tensorType: { type: 'TensorTypeProto', id: 1 } },
        },
        TensorTypeProto: {
          fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            tensors: { rule: 'repeated', type: 'TensorProto', id: 10 },
            graphs: { rule: 'repeated', type: 'GraphProto', id: 11 },
            type: { type: 'int32', id: 20 },
            refAttrName: { type: 'string', id: 21 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
            sparseInitializer: { rule: 'repeated', type: 'bytes', id: 15 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
            functions: { rule: 'repeated', type: 'bytes', id: 25 },
          },
        },
      },
    },
  },
};

let root: protobuf.Root | undefined;
function schema(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(SCHEMA);
  return root;
}

/** The protobufjs type of an ONNX message (`'ModelProto'`, `'GraphProto'`, …), for encoding test models. */
export function onnxType(name: string): protobuf.Type {
  return schema().lookupType(`onnx.${name}`);
}

// ---------------------------------------------------------------------------------------------
// Plain, checked forms of the decoded messages

/** ONNX TensorProto.DataType values rnnx knows by name. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

export const AttrType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

export interface TensorMsg {
  name: string;
  dims: number[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  uint64Data: number[];
  rawData: Uint8Array | null;
  external: boolean;
  hasStrings: boolean;
}

export interface AttrMsg {
  name: string;
  type: number;
  f: number;
  i: number;
  s: string;
  t: TensorMsg | null;
  floats: number[];
  ints: number[];
  strings: string[];
  hasGraph: boolean;
  refAttrName: string;
}

export interface NodeMsg {
  name: string;
  opType: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: AttrMsg[];
}

export interface ValueInfoMsg {
  name: string;
  elemType: number;
  /** Dimensions: a number, a symbolic name, or null (unknown). Null when the rank is unknown. */
  shape: (number | string | null)[] | null;
}

export interface GraphMsg {
  name: string;
  node: NodeMsg[];
  initializer: TensorMsg[];
  input: ValueInfoMsg[];
  output: ValueInfoMsg[];
  hasSparse: boolean;
}

export interface ModelMsg {
  irVersion: number;
  producerName: string;
  opset: Map<string, number>;
  graph: GraphMsg;
  metadata: Record<string, string>;
}

/** Long-or-number → number; values past 2^53 become ±Infinity-free saturated doubles (exact below 2^53). */
export function int64ToNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean };
    const lo = l.low >>> 0;
    const hi = l.unsigned ? l.high >>> 0 : l.high | 0;
    return hi * 4294967296 + lo;
  }
  return NaN;
}

const utf8 = new TextDecoder('utf-8');

type Raw = Record<string, unknown>;

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function tensorMsg(t: Raw): TensorMsg {
  const raw = t.rawData instanceof Uint8Array && t.rawData.length > 0 ? t.rawData : null;
  return {
    name: str(t.name),
    dims: arr(t.dims).map(int64ToNumber),
    dataType: num(t.dataType),
    floatData: arr(t.floatData) as number[],
    int32Data: arr(t.int32Data) as number[],
    int64Data: arr(t.int64Data).map(int64ToNumber),
    doubleData: arr(t.doubleData) as number[],
    uint64Data: arr(t.uint64Data).map(int64ToNumber),
    rawData: raw,
    external: num(t.dataLocation) === 1 || arr(t.externalData).length > 0,
    hasStrings: arr(t.stringData).length > 0,
  };
}

function attrMsg(a: Raw): AttrMsg {
  const t = a.t as Raw | null | undefined;
  return {
    name: str(a.name),
    type: num(a.type),
    f: num(a.f),
    i: int64ToNumber(a.i ?? 0),
    s: a.s instanceof Uint8Array ? utf8.decode(a.s) : '',
    t: t ? tensorMsg(t) : null,
    floats: arr(a.floats) as number[],
    ints: arr(a.ints).map(int64ToNumber),
    strings: arr(a.strings).map((s) => (s instanceof Uint8Array ? utf8.decode(s) : '')),
    hasGraph: !!a.g || arr(a.graphs).length > 0,
    refAttrName: str(a.refAttrName),
  };
}

function valueInfo(v: Raw): ValueInfoMsg {
  const type = v.type as Raw | null | undefined;
  const tt = type?.tensorType as Raw | null | undefined;
  const shape = tt?.shape as Raw | null | undefined;
  return {
    name: str(v.name),
    elemType: tt ? num(tt.elemType) : 0,
    shape: shape
      ? arr(shape.dim).map((d) => {
          const dd = d as Raw;
          const own = (k: string) => Object.prototype.hasOwnProperty.call(dd, k);
          if (own('dimValue')) {
            const n = int64ToNumber(dd.dimValue);
            return Number.isSafeInteger(n) && n >= 0 ? n : null;
          }
          if (own('dimParam') && typeof dd.dimParam === 'string') return dd.dimParam;
          return null;
        })
      : null,
  };
}

function graphMsg(g: Raw): GraphMsg {
  return {
    name: str(g.name),
    node: arr(g.node).map((n) => {
      const nn = n as Raw;
      return {
        name: str(nn.name),
        opType: str(nn.opType),
        domain: str(nn.domain),
        input: arr(nn.input).map(str),
        output: arr(nn.output).map(str),
        attribute: arr(nn.attribute).map((a) => attrMsg(a as Raw)),
      };
    }),
    initializer: arr(g.initializer).map((t) => tensorMsg(t as Raw)),
    input: arr(g.input).map((v) => valueInfo(v as Raw)),
    output: arr(g.output).map((v) => valueInfo(v as Raw)),
    hasSparse: arr(g.sparseInitializer).length > 0,
  };
}

/**
 * Decodes an ONNX ModelProto with protobufjs and returns its checked plain form.
 * @throws ModelFormatError if the bytes are not a protobuf ModelProto with a graph
 */
export function decodeModel(buf: Uint8Array, file: string): ModelMsg {
  if (buf.length === 0) throw new ModelFormatError(file, 'the file is empty');
  let msg: Raw;
  try {
    msg = schema().lookupType('onnx.ModelProto').decode(buf) as unknown as Raw;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ModelFormatError(file, `not a valid ONNX protobuf (${why.slice(0, 120)})`, { cause: e });
  }
  if (!msg.graph) throw new ModelFormatError(file, 'the ONNX model has no graph');
  const opset = new Map<string, number>();
  for (const o of arr(msg.opsetImport)) {
    const oo = o as Raw;
    const d = str(oo.domain);
    opset.set(d === 'ai.onnx' ? '' : d, int64ToNumber(oo.version ?? 0));
  }
  const metadata: Record<string, string> = {};
  for (const e of arr(msg.metadataProps)) {
    const ee = e as Raw;
    Object.defineProperty(metadata, str(ee.key), { value: str(ee.value), enumerable: true, writable: true, configurable: true });
  }
  if (arr(msg.functions).length > 0) {
    // model-local functions are only needed by nodes of their domain; such nodes are rejected later
  }
  return {
    irVersion: int64ToNumber(msg.irVersion ?? 0),
    producerName: str(msg.producerName),
    opset,
    graph: graphMsg(msg.graph as Raw),
    metadata,
  };
}
