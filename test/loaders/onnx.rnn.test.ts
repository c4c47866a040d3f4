/**
 * ONNX LSTM / GRU / RNN nodes against a direct float64 implementation of the ONNX formulas
 * (onnx/defs/rnn/defs.cc): every direction, layout 0/1, sequence_lens (with 0), initial states,
 * linear_before_reset 0/1, activations with alpha/beta, clip.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../lib/tensor.js';
import { ModelFormatError } from '../../lib/errors.js';
import { parseOnnx } from '../../lib/loaders/onnx.js';
import { type AttrValue, type TensorSpec, encodeOnnxModel } from '../../lib/loaders/onnx/encode.js';
import { relErr } from '../../lib/verify/relErr.js';
import { mulberry32 } from '../../lib/random.js';

type Cell = 'LSTM' | 'GRU' | 'RNN';
const G = { LSTM: 4, GRU: 3, RNN: 1 };

const rng = mulberry32;
const randArr = (r: () => number, n: number, scale = 0.5) => Array.from({ length: n }, () => Math.fround((r() * 2 - 1) * scale));

const ACT: Record<string, (x: number, a?: number, b?: number) => number> = {
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  Tanh: Math.tanh,
  Relu: (x) => Math.max(0, x),
  HardSigmoid: (x, a = 0.2, b = 0.5) => Math.min(1, Math.max(0, a * x + b)),
  LeakyRelu: (x, a = 0.01) => (x >= 0 ? x : a * x),
  Softsign: (x) => x / (1 + Math.abs(x)),
};
type Act = { name: string; alpha?: number; beta?: number };
const act = (s: Act) => (x: number) => (ACT[s.name] as (x: number, a?: number, b?: number) => number)(x, s.alpha, s.beta);

interface Case {
  cell: Cell;
  direction: 'forward' | 'reverse' | 'bidirectional';
  layout: 0 | 1;
  T: number; B: number; I: number; H: number;
  lens?: number[];
  initial?: boolean;
  lbr?: number;
  clip?: number;
  acts?: Act[]; // per direction list (nAct * nd)
  peep?: boolean; // LSTM: random P [nd, 3H] (order i, o, f)
  inputForget?: boolean; // LSTM: input_forget=1
}

/** Reference: returns Y [T, nd, B, H], Yh [nd, B, H], Yc in layout-0 order. */
function reference(c: Case, W: number[], R: number[], Bv: number[], X0: number[], h0: number[] | null, c0: number[] | null, P: number[] | null = null) {
  const { T, B, I, H } = c;
  const nd = c.direction === 'bidirectional' ? 2 : 1;
  const g = G[c.cell];
  const nAct = c.cell === 'LSTM' ? 3 : c.cell === 'GRU' ? 2 : 1;
  const defaults: Act[] = (c.cell === 'LSTM' ? ['Sigmoid', 'Tanh', 'Tanh'] : c.cell === 'GRU' ? ['Sigmoid', 'Tanh'] : ['Tanh']).map((name) => ({ name }));
  const acts = c.acts ?? [...defaults, ...(nd === 2 ? defaults : [])];
  const Y = new Float64Array(T * nd * B * H);
  const Yh = new Float64Array(nd * B * H);
  const Yc = new Float64Array(nd * B * H);
  const x = (t: number, b: number, i: number) => X0[c.layout ? (b * T + t) * I + i : (t * B + b) * I + i] as number;
  const clip = (v: number) => (c.clip ? Math.max(-c.clip, Math.min(c.clip, v)) : v);
  for (let d = 0; d < nd; d++) {
    const rev = c.direction === 'reverse' || d === 1;
    const [f, gg, hh] = acts.slice(d * nAct, (d + 1) * nAct).map(act) as [(x: number) => number, (x: number) => number, (x: number) => number];
    for (let b = 0; b < B; b++) {
      const L = c.lens ? (c.lens[b] as number) : T;
      const hidx = (k: number) => (c.layout ? (b * nd + d) * H + k : (d * B + b) * H + k);
      let h = Array.from({ length: H }, (_, k) => (h0 ? (h0[hidx(k)] as number) : 0));
      let cs = Array.from({ length: H }, (_, k) => (c0 ? (c0[hidx(k)] as number) : 0));
      if (L === 0) { h = h.map(() => 0); cs = cs.map(() => 0); }
      for (let s = 0; s < L; s++) {
        const t = rev ? L - 1 - s : s;
        // xw[j] = x·W[j] + Wb[j]; hr[j] = h·R[j] + Rb[j] for j in g*H rows
        const xw = new Array<number>(g * H).fill(0);
        const hr = new Array<number>(g * H).fill(0);
        for (let j = 0; j < g * H; j++) {
          let sx = Bv.length ? (Bv[d * 2 * g * H + j] as number) : 0;
          for (let i = 0; i < I; i++) sx += x(t, b, i) * (W[(d * g * H + j) * I + i] as number);
          let sh = Bv.length ? (Bv[d * 2 * g * H + g * H + j] as number) : 0;
          for (let k = 0; k < H; k++) sh += (h[k] as number) * (R[(d * g * H + j) * H + k] as number);
          xw[j] = sx;
          hr[j] = sh;
        }
        const nh = new Array<number>(H);
        for (let k = 0; k < H; k++) {
          const pre = (q: number) => clip((xw[q * H + k] as number) + (hr[q * H + k] as number));
          if (c.cell === 'RNN') nh[k] = f(pre(0));
          else if (c.cell === 'LSTM') {
            // peepholes P (i, o, f) join the pre-activations before clip; input_forget: f = 1 - i
            const pp = (q: number) => (P ? (P[d * 3 * H + q * H + k] as number) : 0);
            const raw = (q: number) => (xw[q * H + k] as number) + (hr[q * H + k] as number);
            const cprev = cs[k] as number;
            const i_ = f(clip(raw(0) + pp(0) * cprev));
            const f_ = c.inputForget ? 1 - i_ : f(clip(raw(2) + pp(2) * cprev));
            const cc = gg(pre(3));
            cs[k] = f_ * cprev + i_ * cc;
            const o_ = f(clip(raw(1) + pp(1) * (cs[k] as number)));
            nh[k] = o_ * hh(cs[k] as number);
          } else {
            const z = f(pre(0)), r = f(pre(1));
            const hn = gg(clip((xw[2 * H + k] as number) + r * (hr[2 * H + k] as number)));
            nh[k] = (1 - z) * hn + z * (h[k] as number);
          }
        }
        if (c.cell === 'GRU' && !c.lbr) {
          // (r ⊙ h) · Rh^T + Rbh, with r per unit
          const r = Array.from({ length: H }, (_, k) => f(clip((xw[H + k] as number) + (hr[H + k] as number))));
          for (let k = 0; k < H; k++) {
            let s2 = Bv.length ? (Bv[d * 2 * g * H + g * H + 2 * H + k] as number) : 0;
            for (let q = 0; q < H; q++) s2 += (r[q] as number) * (h[q] as number) * (R[(d * g * H + 2 * H + k) * H + q] as number);
            const z = f(clip((xw[k] as number) + (hr[k] as number)));
            const hn = gg(clip((xw[2 * H + k] as number) + s2));
            nh[k] = (1 - z) * hn + z * (h[k] as number);
          }
        }
        h = nh;
        for (let k = 0; k < H; k++) Y[((t * nd + d) * B + b) * H + k] = h[k] as number;
      }
      for (let k = 0; k < H; k++) {
        Yh[(d * B + b) * H + k] = h[k] as number;
        Yc[(d * B + b) * H + k] = cs[k] as number;
      }
    }
  }
  return { Y, Yh, Yc };
}

function toLayout1Y(Y: Float64Array, T: number, nd: number, B: number, H: number) {
  const out = new Float64Array(Y.length);
  for (let t = 0; t < T; t++) for (let d = 0; d < nd; d++) for (let b = 0; b < B; b++) for (let k = 0; k < H; k++)
    out[((b * T + t) * nd + d) * H + k] = Y[((t * nd + d) * B + b) * H + k] as number;
  return out;
}
function toLayout1S(S: Float64Array, nd: number, B: number, H: number) {
  const out = new Float64Array(S.length);
  for (let d = 0; d < nd; d++) for (let b = 0; b < B; b++) for (let k = 0; k < H; k++) out[(b * nd + d) * H + k] = S[(d * B + b) * H + k] as number;
  return out;
}

function build(c: Case, seed: number, extraAttrs: Record<string, AttrValue> = {}, extraInits: TensorSpec[] = [], extraInputs: string[] = []) {
  const r = rng(seed);
  const nd = c.direction === 'bidirectional' ? 2 : 1;
  const g = G[c.cell];
  const { T, B, I, H } = c;
  const W = randArr(r, nd * g * H * I);
  const R = randArr(r, nd * g * H * H);
  const Bv = randArr(r, nd * 2 * g * H);
  const X = randArr(r, T * B * I, 1);
  const h0 = c.initial ? randArr(r, nd * B * H) : null;
  const c0 = c.initial && c.cell === 'LSTM' ? randArr(r, nd * B * H) : null;
  const P = c.peep ? randArr(r, nd * 3 * H) : null;
  const attrs: Record<string, AttrValue> = { hidden_size: H, direction: c.direction, layout: c.layout, ...extraAttrs };
  if (c.inputForget) attrs.input_forget = 1;
  if (P) {
    extraInits = [...extraInits, { name: 'P', type: 'float', dims: [nd, 3 * H], values: P }];
    extraInputs = ['P'];
  }
  if (c.cell === 'GRU') attrs.linear_before_reset = c.lbr ?? 0;
  if (c.clip) attrs.clip = { float: c.clip };
  if (c.acts) {
    attrs.activations = c.acts.map((a) => a.name);
    const al = c.acts.filter((a) => a.alpha !== undefined).map((a) => a.alpha as number);
    const be = c.acts.filter((a) => a.beta !== undefined).map((a) => a.beta as number);
    if (al.length) attrs.activation_alpha = { floats: al };
    if (be.length) attrs.activation_beta = { floats: be };
  }
  const stateShape = c.layout ? ['b', nd, H] : [nd, 'b', H];
  const inputs = [{ name: 'X', type: 'float' as const, shape: c.layout ? ['b', 't', I] : ['t', 'b', I] }];
  const nodeIn = ['X', 'W', 'R', 'B', c.lens ? 'lens' : '', h0 ? 'h0' : '', c0 ? 'c0' : '', ...extraInputs];
  if (c.lens) inputs.push({ name: 'lens', type: 'int32' as never, shape: ['b'] });
  if (h0) inputs.push({ name: 'h0', type: 'float', shape: stateShape as never });
  if (c0) inputs.push({ name: 'c0', type: 'float', shape: stateShape as never });
  const outs = c.cell === 'LSTM' ? ['Y', 'Yh', 'Yc'] : ['Y', 'Yh'];
  const bytes = encodeOnnxModel({
    nodes: [{ op: c.cell, inputs: nodeIn, outputs: outs, name: 'rec', attrs }],
    inputs,
    outputs: outs.map((name) => ({ name, type: 'float' as const })),
    initializers: [
      { name: 'W', type: 'float', dims: [nd, g * H, I], values: W },
      { name: 'R', type: 'float', dims: [nd, g * H, H], values: R },
      { name: 'B', type: 'float', dims: [nd, 2 * g * H], values: Bv },
      ...extraInits,
    ],
  });
  return { bytes, W, R, Bv, X, h0, c0, nd, P };
}

async function check(c: Case, seed = 1) {
  const { bytes, W, R, Bv, X, h0, c0, nd, P } = build(c, seed);
  const m = parseOnnx(bytes, `${c.cell}.onnx`);
  const feed: Record<string, Tensor> = { X: new Tensor(Float32Array.from(X), c.layout ? [c.B, c.T, c.I] : [c.T, c.B, c.I]) };
  const ss = c.layout ? [c.B, nd, c.H] : [nd, c.B, c.H];
  if (c.lens) feed.lens = new Tensor(Int32Array.from(c.lens), [c.B]);
  if (h0) feed.h0 = new Tensor(Float32Array.from(h0), ss);
  if (c0) feed.c0 = new Tensor(Float32Array.from(c0), ss);
  const out = await m.run(feed);
  m.dispose();
  const ref = reference(c, W, R, Bv, X, h0, c0, P);
  const Y = c.layout ? toLayout1Y(ref.Y, c.T, nd, c.B, c.H) : ref.Y;
  const Yh = c.layout ? toLayout1S(ref.Yh, nd, c.B, c.H) : ref.Yh;
  expect(out.Y!.shape).toEqual(c.layout ? [c.B, c.T, nd, c.H] : [c.T, nd, c.B, c.H]);
  expect(out.Yh!.shape).toEqual(ss);
  expect(relErr(out.Y!.data, Y)).toBeLessThan(1e-5);
  expect(relErr(out.Yh!.data, Yh)).toBeLessThan(1e-5);
  if (c.cell === 'LSTM') {
    const Yc = c.layout ? toLayout1S(ref.Yc, nd, c.B, c.H) : ref.Yc;
    expect(relErr(out.Yc!.data, Yc)).toBeLessThan(1e-5);
  }
}

const base = { T: 5, B: 3, I: 4, H: 3 };

describe('ONNX recurrent operators against the ONNX formulas', () => {
  for (const cell of ['LSTM', 'GRU', 'RNN'] as const)
    for (const direction of ['forward', 'reverse', 'bidirectional'] as const)
      for (const layout of [0, 1] as const)
        it(`${cell} ${direction} layout ${layout} with sequence_lens and initial state`, async () => {
          await check({ cell, direction, layout, ...base, lens: [5, 2, 3], initial: true, lbr: 1 });
        });

  it('GRU linear_before_reset=0, clip, no initial state', async () => {
    await check({ cell: 'GRU', direction: 'bidirectional', layout: 0, ...base, lbr: 0, clip: 0.7 });
  });
  it('LSTM with clip and activations with alpha/beta, differing per direction', async () => {
    await check({
      cell: 'LSTM', direction: 'bidirectional', layout: 0, ...base, lens: [1, 5, 4], clip: 2,
      acts: [{ name: 'HardSigmoid', alpha: 0.3, beta: 0.4 }, { name: 'Tanh' }, { name: 'Softsign' }, { name: 'Sigmoid' }, { name: 'LeakyRelu', alpha: 0.1 }, { name: 'Tanh' }],
    });
  });
  it('RNN Relu, bidirectional, a zero sequence length', async () => {
    await check({ cell: 'RNN', direction: 'bidirectional', layout: 1, ...base, lens: [0, 5, 2], initial: true, acts: [{ name: 'Relu' }, { name: 'Relu' }] });
  });

  it('LSTM peepholes P, every direction and layout, with sequence_lens and initial state', async () => {
    for (const direction of ['forward', 'reverse', 'bidirectional'] as const)
      for (const layout of [0, 1] as const)
        await check({ cell: 'LSTM', direction, layout, ...base, lens: [5, 2, 3], initial: true, peep: true });
  });
  it('LSTM input_forget=1, alone and with peepholes and clip', async () => {
    await check({ cell: 'LSTM', direction: 'bidirectional', layout: 0, ...base, lens: [4, 5, 1], initial: true, inputForget: true });
    await check({ cell: 'LSTM', direction: 'forward', layout: 1, ...base, initial: true, inputForget: true, peep: true, clip: 0.8 });
  });
  it('LSTM P of the wrong shape or non-finite is a ModelFormatError', () => {
    const c: Case = { cell: 'LSTM', direction: 'forward', layout: 0, ...base };
    const bad: TensorSpec = { name: 'P', type: 'float', dims: [1, 2 * base.H], values: new Array(2 * base.H).fill(0.1) };
    expect(() => parseOnnx(build(c, 2, {}, [bad], ['P']).bytes, 'p.onnx')).toThrow(ModelFormatError);
    const nan: TensorSpec = { name: 'P', type: 'float', dims: [1, 3 * base.H], values: new Array(3 * base.H).fill(Number.NaN) };
    expect(() => parseOnnx(build(c, 2, {}, [nan], ['P']).bytes, 'p.onnx')).toThrow(/non-finite/);
  });

  it('wrong gate counts and hidden_size mismatches are ModelFormatErrors', () => {
    const c: Case = { cell: 'GRU', direction: 'forward', layout: 0, ...base };
    expect(() => parseOnnx(build(c, 3, { hidden_size: 4 }).bytes, 'h.onnx')).toThrow(/hidden_size 4 does not match/);
    // an LSTM-sized (4 gates) W given to a GRU with hidden_size 3: 12 rows is 4 gates of 3, not 3
    const lstm = build({ cell: 'LSTM', direction: 'forward', layout: 0, ...base }, 4);
    const asGru = encodeOnnxModel({
      nodes: [{ op: 'GRU', inputs: ['X', 'W', 'R'], outputs: ['Y'], name: 'g', attrs: { hidden_size: 3 } }],
      inputs: [{ name: 'X', type: 'float', shape: ['t', 'b', base.I] }],
      outputs: [{ name: 'Y', type: 'float' }],
      initializers: [
        { name: 'W', type: 'float', dims: [1, 12, base.I], values: lstm.W },
        { name: 'R', type: 'float', dims: [1, 12, 3], values: lstm.R },
      ],
    });
    expect(() => parseOnnx(asGru, 'g.onnx')).toThrow(ModelFormatError);
    expect(() => parseOnnx(asGru, 'g.onnx')).toThrow(/g\.onnx.*node "g" \(GRU\)/);
    // bidirectional direction with one direction of weights
    expect(() => parseOnnx(build({ ...c, direction: 'forward' }, 3, { direction: 'bidirectional' }).bytes, 'd.onnx')).toThrow(/W has shape/);
  });
});
