/**
 * onnxruntime-node peer: an ONNX model with one LSTM / GRU / RNN node (opset 14), built in memory
 * with a small protobuf writer of our own, weights converted from the PyTorch layout.
 *
 * Field numbers are those of onnx/onnx.proto (proto2): ModelProto{ir_version 1, producer_name 2,
 * graph 7, opset_import 8}, OperatorSetIdProto{domain 1, version 2}, GraphProto{node 1, name 2,
 * initializer 5, input 11, output 12}, NodeProto{input 1, output 2, name 3, op_type 4, attribute 5},
 * AttributeProto{name 1, f 2, i 3, s 4, ints 8, type 20}, TensorProto{dims 1, data_type 2, name 8,
 * raw_data 9}, ValueInfoProto{name 1, type 2}, TypeProto{tensor_type 1}, TypeProto.Tensor{elem_type 1,
 * shape 2}, TensorShapeProto{dim 1}, Dimension{dim_value 1, dim_param 2}.
 */
import { reorderBlocks } from '../lib/util.mjs';

// ---------------------------------------------------------------- protobuf writer

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

class PbWriter {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  push(u8) {
    this.chunks.push(u8);
    this.length += u8.length;
  }
  rawVarint(v) {
    // Non-negative integers only (all we write); BigInt keeps 64-bit values exact.
    let n = BigInt(v);
    if (n < 0n) throw new Error(`negative varint ${v}`);
    const bytes = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      bytes.push(b);
    } while (n > 0n);
    this.push(Uint8Array.from(bytes));
  }
  key(field, wire) {
    this.rawVarint((field << 3) | wire);
  }
  varint(field, v) {
    this.key(field, WIRE_VARINT);
    this.rawVarint(v);
    return this;
  }
  bytes(field, u8) {
    this.key(field, WIRE_LEN);
    this.rawVarint(u8.length);
    this.push(u8);
    return this;
  }
  string(field, s) {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  float(field, f) {
    this.key(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    this.push(b);
    return this;
  }
  message(field, build) {
    const sub = new PbWriter();
    build(sub);
    return this.bytes(field, sub.finish());
  }
  finish() {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ---------------------------------------------------------------- ONNX messages

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;

function tensorProto(w, name, dims, data) {
  for (const d of dims) w.varint(1, d);
  w.varint(2, FLOAT);
  w.string(8, name);
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); // raw_data: little-endian float32
}

function valueInfo(w, name, dims) {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.varint(1, FLOAT);
      tt.message(2, (shape) => {
        for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function attribute(w, name, value) {
  w.string(1, name);
  if (typeof value === 'string') w.bytes(4, new TextEncoder().encode(value)).varint(20, ATTR_STRING);
  else if (Number.isInteger(value)) w.varint(3, value).varint(20, ATTR_INT);
  else w.float(2, value).varint(20, ATTR_FLOAT);
}

/**
 * Serializes a ModelProto with one node. `spec`: { opType, attributes: {name: value},
 * nodeInputs: [names, '' for absent], nodeOutputs, inputs: [{name, dims}], outputs: [{name, dims}],
 * initializers: [{name, dims, data: Float32Array}] }.
 */
export function encodeModel(spec, opset = 14) {
  const m = new PbWriter();
  m.varint(1, 7); // ir_version 7 (ONNX 1.8+): enough for opset 14
  m.string(2, 'rnnx-bench');
  m.message(7, (g) => {
    g.message(1, (n) => {
      for (const i of spec.nodeInputs) n.string(1, i);
      for (const o of spec.nodeOutputs) n.string(2, o);
      n.string(3, `${spec.opType.toLowerCase()}0`);
      n.string(4, spec.opType);
      for (const [k, v] of Object.entries(spec.attributes)) n.message(5, (a) => attribute(a, k, v));
    });
    g.string(2, 'rnnx_bench_graph');
    for (const t of spec.initializers) g.message(5, (w) => tensorProto(w, t.name, t.dims, t.data));
    for (const i of spec.inputs) g.message(11, (w) => valueInfo(w, i.name, i.dims));
    for (const o of spec.outputs) g.message(12, (w) => valueInfo(w, o.name, o.dims));
  });
  m.message(8, (o) => o.string(1, '').varint(2, opset));
  return m.finish();
}

// ---------------------------------------------------------------- PyTorch → ONNX weights

/** PyTorch gate blocks → ONNX order: LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h; RNN one block. */
export const ONNX_GATE_ORDER = { lstm: [0, 3, 1, 2], gru: [1, 0, 2], rnn: [0] };
const OP = { lstm: 'LSTM', gru: 'GRU', rnn: 'RNN' };

/** W [1, G·H, I], R [1, G·H, H], B [1, 2·G·H] from a PyTorch state dict (layer 0, forward direction). */
export function onnxWeights(cell, I, H, sd) {
  const order = ONNX_GATE_ORDER[cell];
  const G = order.length;
  const W = reorderBlocks(sd.weight_ih_l0, H * I, order);
  const R = reorderBlocks(sd.weight_hh_l0, H * H, order);
  const B = new Float32Array(2 * G * H);
  B.set(reorderBlocks(sd.bias_ih_l0, H, order), 0);
  B.set(reorderBlocks(sd.bias_hh_l0, H, order), G * H);
  return [
    { name: 'W', dims: [1, G * H, I], data: W },
    { name: 'R', dims: [1, G * H, H], data: R },
    { name: 'B', dims: [1, 2 * G * H], data: B },
  ];
}

/**
 * The model bytes for a trial. `outputs`: which of Y, Y_h, Y_c the graph exposes (what the caller
 * needs); `withState`: initial_h (and initial_c) are graph inputs (the streaming step).
 */
export function buildModel(trial, sd, { T = trial.T, outputs, withState }) {
  const { cell, I, H, B } = trial;
  const lstm = cell === 'lstm';
  const stateIn = withState ? ['initial_h', ...(lstm ? ['initial_c'] : [])] : [];
  const nodeInputs = ['X', 'W', 'R', 'B', '', withState ? 'initial_h' : '', ...(lstm ? [withState ? 'initial_c' : ''] : [])];
  while (nodeInputs[nodeInputs.length - 1] === '') nodeInputs.pop();
  const all = { Y: [T, 1, B, H], Y_h: [1, B, H], Y_c: [1, B, H] };
  const nodeOutputs = ['Y', 'Y_h', ...(lstm ? ['Y_c'] : [])].map((o) => (outputs.includes(o) ? o : ''));
  while (nodeOutputs[nodeOutputs.length - 1] === '') nodeOutputs.pop();
  const attributes = { hidden_size: H };
  if (cell === 'gru') attributes.linear_before_reset = 1;
  return encodeModel({
    opType: OP[cell],
    attributes,
    nodeInputs,
    nodeOutputs,
    inputs: [{ name: 'X', dims: [T, B, I] }, ...stateIn.map((name) => ({ name, dims: [1, B, H] }))],
    outputs: outputs.map((name) => ({ name, dims: all[name] })),
    initializers: onnxWeights(cell, I, H, sd),
  });
}

// ---------------------------------------------------------------- runners

let ortModule;
export async function loadOrt() {
  ortModule ??= await import('onnxruntime-node');
  return ortModule;
}

export async function ortVersion() {
  const ort = await loadOrt();
  return ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown';
}

async function session(bytes, threads) {
  const ort = await loadOrt();
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/**
 * Prepares the ORT runner of a trial at `threads`. Returns { call(), check() }:
 * `call` is the timed function; `check` returns the outputs to compare with rnnx's (same names).
 */
export async function makeOrtRunner(trial, sd, x, threads) {
  const ort = await loadOrt();
  const { cell, I, H, B, T } = trial;
  const lstm = cell === 'lstm';
  if (trial.mode === 'train') return null;
  if (trial.mode === 'stream') {
    const outputs = ['Y_h', ...(lstm ? ['Y_c'] : [])];
    const sess = await session(buildModel(trial, sd, { T: 1, outputs, withState: true }), threads);
    let h = new Float32Array(B * H);
    let c = new Float32Array(B * H);
    const step = async (frame) => {
      const feeds = { X: new ort.Tensor('float32', frame, [1, B, I]), initial_h: new ort.Tensor('float32', h, [1, B, H]) };
      if (lstm) feeds.initial_c = new ort.Tensor('float32', c, [1, B, H]);
      const r = await sess.run(feeds);
      h = r.Y_h.data;
      if (lstm) c = r.Y_c.data;
      return { h, c };
    };
    return {
      reset() {
        h = new Float32Array(B * H);
        c = new Float32Array(B * H);
      },
      step,
      call: () => step(x.subarray(0, B * I)),
      release: () => sess.release(),
    };
  }
  const needAll = trial.needs.includes('output');
  const outputs = needAll ? ['Y'] : ['Y_h'];
  const sess = await session(buildModel(trial, sd, { outputs, withState: false }), threads);
  const feeds = () => ({ X: new ort.Tensor('float32', x, [T, B, I]) });
  // every output: into a pre-allocated Y reused across calls (as rnnx writes into forward's `out`)
  const fetches = needAll ? { Y: new ort.Tensor('float32', new Float32Array(T * B * H), [T, 1, B, H]) } : undefined;
  return {
    call: () => sess.run(feeds(), fetches),
    async check() {
      const r = await sess.run(feeds());
      return needAll ? { output: r.Y.data } : { h: r.Y_h.data };
    },
    release: () => sess.release(),
  };
}
