// The public layer API: gradients against central finite differences (float64), float32 against
// float64 on sizes no fixture has, packed-sequence semantics, streams, async, unbatched input.
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor, getBackendInfo, setCpuIsa } from '../../lib/index.js';
import type { Recurrent, Tape } from '../../lib/layers/Recurrent.js';
import { maxRelErr, randn, rng } from '../helpers/random.js';

type Make = (o: Record<string, unknown>) => Recurrent;
const make: Record<string, Make> = {
  lstm: (o) => new LSTM(o as never),
  gru: (o) => new GRU(o as never),
  rnn: (o) => new RNN(o as never),
};

interface Case {
  name: string;
  cell: 'lstm' | 'gru' | 'rnn';
  opts: Record<string, unknown>;
  T: number;
  B: number;
  lengths?: number[];
  init?: boolean;
}

const gradCases: Case[] = [
  { name: 'lstm basic', cell: 'lstm', opts: { inputSize: 3, hiddenSize: 4 }, T: 4, B: 2, init: true },
  { name: 'lstm bi 2-layer lengths', cell: 'lstm', opts: { inputSize: 3, hiddenSize: 3, numLayers: 2, bidirectional: true }, T: 5, B: 3, lengths: [2, 5, 3], init: true },
  { name: 'lstm proj batchFirst no-bias', cell: 'lstm', opts: { inputSize: 2, hiddenSize: 5, projSize: 2, batchFirst: true, bias: false }, T: 3, B: 2, lengths: [3, 1] },
  { name: 'lstm hard_sigmoid/elu/softsign clip', cell: 'lstm', opts: { inputSize: 3, hiddenSize: 3, activations: ['hard_sigmoid', { name: 'elu', alpha: 0.8 }, 'softsign'], clip: 0.9 }, T: 4, B: 2, init: true },
  { name: 'lstm peepholes bi 2-layer lengths', cell: 'lstm', opts: { inputSize: 3, hiddenSize: 3, numLayers: 2, bidirectional: true, peepholes: true }, T: 4, B: 3, lengths: [4, 1, 3], init: true },
  { name: 'lstm input_forget + peepholes + clip', cell: 'lstm', opts: { inputSize: 2, hiddenSize: 4, peepholes: true, inputForget: true, clip: 0.8 }, T: 4, B: 2, init: true },
  { name: 'gru reset-after bi', cell: 'gru', opts: { inputSize: 3, hiddenSize: 4, bidirectional: true }, T: 4, B: 3, lengths: [4, 2, 3], init: true },
  { name: 'gru reset-before 2-layer', cell: 'gru', opts: { inputSize: 2, hiddenSize: 3, numLayers: 2, linearBeforeReset: false }, T: 5, B: 2, lengths: [5, 3], init: true },
  { name: 'gru scaled_tanh/softplus', cell: 'gru', opts: { inputSize: 2, hiddenSize: 3, activations: [{ name: 'scaled_tanh', alpha: 1.1, beta: 0.6 }, 'softplus'] }, T: 3, B: 2 },
  { name: 'rnn tanh bi', cell: 'rnn', opts: { inputSize: 3, hiddenSize: 4, bidirectional: true, numLayers: 2 }, T: 4, B: 2, lengths: [1, 4], init: true },
  { name: 'rnn leaky_relu', cell: 'rnn', opts: { inputSize: 3, hiddenSize: 4, activations: [{ name: 'leaky_relu', alpha: 0.1 }] }, T: 4, B: 2 },
];

function lossAndGrads(layer: Recurrent, x: Tensor, h0: Tensor | undefined, c0: Tensor | undefined, lengths: number[] | undefined, g: { y: Tensor; h: Tensor; c?: Tensor }) {
  const r = layer.forward(x, { h0, c0, lengths });
  let L = 0;
  for (let i = 0; i < r.output.data.length; i++) L += r.output.data[i]! * g.y.data[i]!;
  for (let i = 0; i < r.h.data.length; i++) L += r.h.data[i]! * g.h.data[i]!;
  if (r.c && g.c) for (let i = 0; i < r.c.data.length; i++) L += r.c.data[i]! * g.c.data[i]!;
  return L;
}

describe('BPTT gradients vs central finite differences (float64)', () => {
  for (const c of gradCases) {
    it(c.name, () => {
      const r = rng(7);
      const layer = make[c.cell]!({ ...c.opts, dtype: 'float64', seed: 3 });
      const I = c.opts.inputSize as number;
      const bf = c.opts.batchFirst === true;
      const x = randn(r, bf ? [c.B, c.T, I] : [c.T, c.B, I], 1, 'float64');
      const LD = layer.config.numLayers * layer.numDirections;
      const h0 = c.init ? randn(r, [LD, c.B, layer.stateSize], 0.5, 'float64') : undefined;
      const c0 = c.init && c.cell === 'lstm' ? randn(r, [LD, c.B, layer.config.hiddenSize], 0.5, 'float64') : undefined;
      const tape = layer.forward(x, { h0, c0, lengths: c.lengths, requiresGrad: true }) as Tape;
      const g = {
        y: randn(r, [...tape.output.shape], 1, 'float64'),
        h: randn(r, [...tape.h.shape], 1, 'float64'),
        c: tape.c ? randn(r, [...tape.c.shape], 1, 'float64') : undefined,
      };
      const grads = tape.backward({ output: g.y, h: g.h, c: g.c });
      const eps = 1e-6;
      const fd = (arr: Float64Array, reload?: () => void) => {
        const out = new Float64Array(arr.length);
        for (let i = 0; i < arr.length; i++) {
          const o = arr[i]!;
          arr[i] = o + eps;
          reload?.();
          const lp = lossAndGrads(layer, x, h0, c0, c.lengths, g);
          arr[i] = o - eps;
          reload?.();
          const lm = lossAndGrads(layer, x, h0, c0, c.lengths, g);
          arr[i] = o;
          reload?.();
          out[i] = (lp - lm) / (2 * eps);
        }
        return out;
      };
      expect(maxRelErr(grads.input.data, fd(x.data as Float64Array))).toBeLessThan(1e-6);
      if (h0) expect(maxRelErr(grads.h0.data, fd(h0.data as Float64Array))).toBeLessThan(1e-6);
      if (c0) expect(maxRelErr(grads.c0!.data, fd(c0.data as Float64Array))).toBeLessThan(1e-6);
      const sd = layer.stateDict();
      for (const [name, w] of Object.entries(sd)) {
        const num = fd(w.data as Float64Array, () => layer.loadStateDict(sd));
        expect(maxRelErr(grads.weights[name]!.data, num), name).toBeLessThan(1e-6);
      }
      layer.dispose();
    });
  }
});

describe('float32 against float64 on sizes no fixture has', () => {
  const r = rng(11);
  const configs: Case[] = [
    { name: 'lstm 3-layer bi H=33 proj 7', cell: 'lstm', opts: { inputSize: 13, hiddenSize: 33, projSize: 7, numLayers: 3, bidirectional: true }, T: 17, B: 5, lengths: [17, 3, 9, 1, 12] },
    { name: 'gru 2-layer H=61 batchFirst', cell: 'gru', opts: { inputSize: 19, hiddenSize: 61, numLayers: 2, batchFirst: true }, T: 40, B: 3, lengths: [40, 21, 39] },
    { name: 'gru reset-before H=24 long', cell: 'gru', opts: { inputSize: 5, hiddenSize: 24, linearBeforeReset: false }, T: 300, B: 2 },
    { name: 'rnn relu bi H=17', cell: 'rnn', opts: { inputSize: 9, hiddenSize: 17, nonlinearity: 'relu', bidirectional: true }, T: 23, B: 4, lengths: [5, 23, 1, 11] },
    { name: 'lstm batch 1 length 1', cell: 'lstm', opts: { inputSize: 8, hiddenSize: 8 }, T: 1, B: 1 },
  ];
  const info = getBackendInfo().cpu;
  const isas = info.compiled.filter((i) => info.supported.includes(i));
  for (const c of configs) {
    it.each(isas)(`${c.name} (%s)`, (isa) => {
      setCpuIsa(isa);
      const l64 = make[c.cell]!({ ...c.opts, dtype: 'float64', seed: 5 });
      const l32 = make[c.cell]!({ ...c.opts, dtype: 'float32', seed: 5 });
      // identical (float32-representable) weights
      const sd = l32.stateDict();
      l64.loadStateDict(Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, new Tensor(Float64Array.from(v.data), v.shape)])));
      const I = c.opts.inputSize as number;
      const shape = c.opts.batchFirst ? [c.B, c.T, I] : [c.T, c.B, I];
      const x32 = randn(r, shape) as Tensor<Float32Array>;
      const x64 = new Tensor(Float64Array.from(x32.data), shape);
      const t64 = l64.forward(x64, { lengths: c.lengths, requiresGrad: true });
      const t32 = l32.forward(x32, { lengths: c.lengths, requiresGrad: true });
      expect(maxRelErr(t32.output.data, t64.output.data)).toBeLessThan(1e-5);
      expect(maxRelErr(t32.h.data, t64.h.data)).toBeLessThan(1e-5);
      const gy32 = randn(r, [...t32.output.shape]) as Tensor<Float32Array>;
      const g64 = t64.backward({ output: new Tensor(Float64Array.from(gy32.data), gy32.shape) });
      const g32 = t32.backward({ output: gy32 });
      expect(maxRelErr(g32.input.data, g64.input.data)).toBeLessThan(1e-4);
      for (const k of Object.keys(g64.weights)) expect(maxRelErr(g32.weights[k]!.data, g64.weights[k]!.data), k).toBeLessThan(1e-4);
      l32.dispose();
      l64.dispose();
    });
  }
});

describe('packed-sequence semantics', () => {
  it('a padded batch equals each sequence run alone, both directions, final states at each end', () => {
    const r = rng(3);
    const lstm = new LSTM({ inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true, dtype: 'float64' });
    const T = 6;
    const lengths = [6, 2, 4];
    const x = randn(r, [T, 3, 4], 1, 'float64');
    const all = lstm.forward(x, { lengths });
    for (let b = 0; b < 3; b++) {
      const Lb = lengths[b]!;
      const xb = new Float64Array(Lb * 4);
      for (let t = 0; t < Lb; t++) for (let k = 0; k < 4; k++) xb[t * 4 + k] = x.data[(t * 3 + b) * 4 + k]!;
      const one = lstm.forward(new Tensor(xb, [Lb, 1, 4]));
      const O = lstm.outputSize;
      for (let t = 0; t < T; t++)
        for (let k = 0; k < O; k++) {
          const got = all.output.data[(t * 3 + b) * O + k]!;
          if (t >= Lb) expect(got).toBe(0);
          else expect(Math.abs(got - one.output.data[t * O + k]!)).toBeLessThan(1e-12);
        }
      for (let s = 0; s < 4; s++)
        for (let k = 0; k < 5; k++) {
          expect(Math.abs(all.h.data[(s * 3 + b) * 5 + k]! - one.h.data[s * 5 + k]!)).toBeLessThan(1e-12);
          expect(Math.abs(all.c!.data[(s * 3 + b) * 5 + k]! - one.c!.data[s * 5 + k]!)).toBeLessThan(1e-12);
        }
    }
    lstm.dispose();
  });

  it('batchFirst equals time-major on transposed data', () => {
    const r = rng(4);
    const a = new GRU({ inputSize: 3, hiddenSize: 4, batchFirst: true, seed: 9 });
    const b = new GRU({ inputSize: 3, hiddenSize: 4, seed: 9 });
    const x = randn(r, [5, 2, 3]) as Tensor<Float32Array>;
    const xt = new Float32Array(30);
    for (let t = 0; t < 5; t++) for (let n = 0; n < 2; n++) for (let k = 0; k < 3; k++) xt[(n * 5 + t) * 3 + k] = x.data[(t * 2 + n) * 3 + k]!;
    const ya = a.forward(new Tensor(xt, [2, 5, 3]), { lengths: [5, 3] });
    const yb = b.forward(x, { lengths: [5, 3] });
    for (let t = 0; t < 5; t++) for (let n = 0; n < 2; n++) for (let k = 0; k < 4; k++) expect(ya.output.data[(n * 5 + t) * 4 + k]).toBe(yb.output.data[(t * 2 + n) * 4 + k]);
    expect(Array.from(ya.h.data)).toEqual(Array.from(yb.h.data));
  });

  it('unbatched [T, I] input gives unbatched outputs', () => {
    const r = rng(5);
    const l = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
    const x = randn(r, [6, 3]) as Tensor<Float32Array>;
    const u = l.forward(x);
    expect(u.output.shape).toEqual([6, 4]);
    expect(u.h.shape).toEqual([2, 4]);
    expect(u.c!.shape).toEqual([2, 4]);
    const bt = l.forward(new Tensor(x.data, [6, 1, 3]));
    expect(Array.from(u.output.data)).toEqual(Array.from(bt.output.data));
  });
});

describe('returnSequences: false', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: output is each sequence's last output (both directions, own lengths), the same numbers as the full output`, async () => {
      const r = rng(31);
      const layer = make[cell]!({ inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 2 });
      const T = 9;
      const B = 3;
      const R = 5;
      const x = randn(r, [T, B, 4]) as Tensor<Float32Array>;
      const lengths = [9, 4, 6];
      const full = layer.forward(x, { lengths });
      for (const run of [() => layer.forward(x, { lengths, returnSequences: false }), () => layer.forwardAsync(x, { lengths, returnSequences: false })]) {
        const last = await run();
        expect(last.output.shape).toEqual([B, 2 * R]);
        expect(Array.from(last.h.data)).toEqual(Array.from(full.h.data));
        for (let b = 0; b < B; b++)
          for (let i = 0; i < R; i++) {
            // forward direction: the output at the sequence's last step; reverse: at step 0
            expect(last.output.data[b * 2 * R + i]).toBe(full.output.data[((lengths[b]! - 1) * B + b) * 2 * R + i]);
            expect(last.output.data[b * 2 * R + R + i]).toBe(full.output.data[b * 2 * R + R + i]);
          }
      }
      // a longer call after a shorter one, and unbatched input
      const x2 = randn(r, [2 * T, B, 4]) as Tensor<Float32Array>;
      const f2 = layer.forward(x2);
      const l2 = layer.forward(x2, { returnSequences: false });
      for (let i = 0; i < B * 2 * R; i++) {
        const b = Math.floor(i / (2 * R));
        const j = i % (2 * R);
        expect(l2.output.data[i]).toBe(j < R ? f2.output.data[((2 * T - 1) * B + b) * 2 * R + j] : f2.output.data[b * 2 * R + j]);
      }
      const u = layer.forward(new Tensor(x.data.slice(0, T * 4), [T, 4]), { returnSequences: false });
      expect(u.output.shape).toEqual([2 * R]);
      layer.dispose();
    });
  }

  it('is for inference: with requiresGrad, or not a boolean, a typed error names it', () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3 });
    const x = new Tensor(new Float32Array(8), [4, 1, 2]);
    expect(() => layer.forward(x, { requiresGrad: true, returnSequences: false })).toThrow(
      expect.objectContaining({ code: 'RNNX_INVALID_ARGUMENT', param: 'options.returnSequences' }),
    );
    expect(() => layer.forward(x, { returnSequences: 'no' as unknown as boolean })).toThrow(
      expect.objectContaining({ param: 'options.returnSequences' }),
    );
    layer.dispose();
  });
});

describe('options.out', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: the output goes into the caller's tensor, every element overwritten, the same bits as a fresh array`, async () => {
      const r = rng(47);
      const layer = make[cell]!({ inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true, batchFirst: true, seed: 3 });
      const T = 7;
      const B = 3;
      const x = randn(r, [B, T, 4]) as Tensor<Float32Array>;
      const lengths = [7, 2, 5];
      const want = layer.forward(x, { lengths });
      const out = new Tensor(new Float32Array(B * T * 10).fill(Number.NaN), [B, T, 10]);
      for (const run of [() => layer.forward(x, { lengths, out }), () => layer.forwardAsync(x, { lengths, out })]) {
        out.data.fill(Number.NaN);
        const got = await run();
        expect(got.output).toBe(out);
        expect(Array.from(out.data)).toEqual(Array.from(want.output.data));
        expect(Array.from(got.h.data)).toEqual(Array.from(want.h.data));
      }
      // the last outputs only, and with a tape (the gradients do not depend on where the output went)
      const last = new Tensor(new Float32Array(B * 10).fill(Number.NaN), [B, 10]);
      const l = layer.forward(x, { lengths, returnSequences: false, out: last });
      expect(l.output).toBe(last);
      expect(Array.from(last.data)).toEqual(Array.from(layer.forward(x, { lengths, returnSequences: false }).output.data));
      const gy = randn(r, [B, T, 10]) as Tensor<Float32Array>;
      const g1 = layer.forward(x, { lengths, requiresGrad: true }).backward({ output: gy });
      out.data.fill(Number.NaN);
      const tape = layer.forward(x, { lengths, requiresGrad: true, out });
      expect(Array.from(out.data)).toEqual(Array.from(want.output.data));
      const g2 = tape.backward({ output: gy });
      expect(Array.from(g2.input.data)).toEqual(Array.from(g1.input.data));
      layer.dispose();
    });
  }

  it('a wrong tensor gets a typed error naming options.out', () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 3 });
    const buf = new Float32Array(64);
    const x = new Tensor(buf.subarray(0, 8), [4, 1, 2]);
    const h0 = new Tensor(buf.subarray(40, 43), [1, 1, 3]);
    const bad: [unknown, string][] = [
      [new Tensor(new Float32Array(12), [4, 3]), 'RNNX_SHAPE_MISMATCH'], // unbatched shape for batched x
      [new Tensor(new Float32Array(13), [13]), 'RNNX_SHAPE_MISMATCH'],
      [new Tensor(new Float64Array(12), [4, 1, 3]), 'RNNX_DTYPE'],
      [new Float32Array(12), 'RNNX_INVALID_ARGUMENT'],
      [new Tensor(buf.subarray(4, 16), [4, 1, 3]), 'RNNX_INVALID_ARGUMENT'], // overlaps x
      [new Tensor(buf.subarray(32, 44), [4, 1, 3]), 'RNNX_INVALID_ARGUMENT'], // overlaps h0
    ];
    for (const [out, code] of bad)
      expect(() => layer.forward(x, { h0, out: out as Tensor })).toThrow(expect.objectContaining({ code, param: 'options.out' }));
    // next to x and h0 in the same buffer, without overlap: fine
    const ok = new Tensor(buf.subarray(8, 20), [4, 1, 3]);
    expect(layer.forward(x, { h0, out: ok }).output).toBe(ok);
    expect(() => layer.forward(x, { returnSequences: false, out: new Tensor(new Float32Array(12), [4, 1, 3]) })).toThrow(
      expect.objectContaining({ code: 'RNNX_SHAPE_MISMATCH', param: 'options.out' }),
    );
    layer.dispose();
  });
});

describe("backward's options.out", () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: gradients go into an earlier backward's buffers, every element overwritten, the same bits as fresh ones`, () => {
      const r = rng(53);
      const layer = make[cell]!({ inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 8 });
      const T = 6;
      const B = 3;
      const lengths = [6, 2, 4];
      const x1 = randn(r, [T, B, 4]) as Tensor<Float32Array>;
      const x2 = randn(r, [T, B, 4]) as Tensor<Float32Array>;
      const gy = randn(r, [T, B, 10]) as Tensor<Float32Array>;
      const first = layer.forward(x1, { lengths, requiresGrad: true }).backward({ output: gy }, { stateGrads: true });
      const fresh = layer.forward(x2, { lengths, requiresGrad: true }).backward({ output: gy }, { stateGrads: true });
      // poison every buffer of `first`, then write x2's gradients into them
      const views = [first.input, first.h0, first.c0, first.stateGrads, ...Object.values(first.weights)].filter((t) => t !== undefined);
      for (const t of views) t.data.fill(Number.NaN);
      const got = layer.forward(x2, { lengths, requiresGrad: true }).backward({ output: gy }, { stateGrads: true, out: first });
      expect(got.input.data).toBe(first.input.data);
      expect(got.h0.data).toBe(first.h0.data);
      expect(got.stateGrads!.data).toBe(first.stateGrads!.data);
      for (const [name, t] of Object.entries(got.weights)) {
        expect(t.data.buffer).toBe(first.weights[name]!.data.buffer);
        expect(Array.from(t.data)).toEqual(Array.from(fresh.weights[name]!.data));
      }
      expect(Array.from(got.input.data)).toEqual(Array.from(fresh.input.data));
      expect(Array.from(got.h0.data)).toEqual(Array.from(fresh.h0.data));
      expect(Array.from(got.stateGrads!.data)).toEqual(Array.from(fresh.stateGrads!.data));
      if (cell === 'lstm') expect(Array.from(got.c0!.data)).toEqual(Array.from(fresh.c0!.data));
      // the result can be passed on (a training loop's steps), with or without state gradients
      const again = layer.forward(x1, { lengths, requiresGrad: true }).backward({ output: gy }, { out: got });
      expect(again.input.data).toBe(first.input.data);
      expect(again.stateGrads).toBeUndefined();
      const ref = layer.forward(x1, { lengths, requiresGrad: true }).backward({ output: gy });
      expect(Array.from(again.input.data)).toEqual(Array.from(ref.input.data));
      layer.dispose();
    });
  }

  it('anything but the gradients of this module for the same shapes gets a typed error naming options.out', () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const other = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const x = new Tensor(new Float32Array(8).fill(0.5), [4, 1, 2]);
    const gy = new Tensor(new Float32Array(12).fill(1), [4, 1, 3]);
    const mine = layer.forward(x, { requiresGrad: true }).backward({ output: gy });
    const theirs = other.forward(x, { requiresGrad: true }).backward({ output: gy });
    const shorter = layer.forward(new Tensor(new Float32Array(6), [3, 1, 2]), { requiresGrad: true }).backward();
    const bad: [unknown, string][] = [
      [theirs, 'RNNX_INVALID_ARGUMENT'], // another module's
      [{ ...mine }, 'RNNX_INVALID_ARGUMENT'], // a copy of the object: not a backward's result
      [{ input: mine.input, h0: mine.h0, weights: mine.weights }, 'RNNX_INVALID_ARGUMENT'],
      [null, 'RNNX_INVALID_ARGUMENT'],
      [new Float32Array(3), 'RNNX_INVALID_ARGUMENT'],
      [shorter, 'RNNX_SHAPE_MISMATCH'], // a backward of 3 steps, not 4
    ];
    for (const [out, code] of bad) {
      const tape = layer.forward(x, { requiresGrad: true });
      expect(() => tape.backward({ output: gy }, { out: out as never })).toThrow(expect.objectContaining({ code, param: 'options.out' }));
      expect(tape.disposed).toBe(false); // (a refused call keeps the tape)
      tape.dispose();
    }
    // gradients read while they would be written: the incoming gradient is a view of out's buffer
    const alias = new Tensor(mine.weights['weight_ih_l0']!.data.subarray(0, 12), [4, 1, 3]);
    expect(() => layer.forward(x, { requiresGrad: true }).backward({ output: alias }, { out: mine })).toThrow(
      expect.objectContaining({ code: 'RNNX_INVALID_ARGUMENT', param: 'options.out' }),
    );
    layer.dispose();
    other.dispose();
  });
});

describe('streams and async', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: stepping a stream equals one forward over the sequence; state/restore/reset`, () => {
      const r = rng(8);
      const layer = make[cell]!({ inputSize: 5, hiddenSize: 6, numLayers: 2, seed: 1, ...(cell === 'lstm' ? { projSize: 3 } : {}) });
      const T = 7;
      const B = 2;
      const x = randn(r, [T, B, 5]) as Tensor<Float32Array>;
      const full = layer.forward(x);
      const s = layer.stream({ batch: B });
      const R = layer.stateSize;
      let mid: ReturnType<typeof s.state> | undefined;
      for (let t = 0; t < T; t++) {
        const y = s.step(new Tensor(x.data.slice(t * B * 5, (t + 1) * B * 5), [B, 5]));
        expect(y.shape).toEqual([B, R]);
        for (let i = 0; i < B * R; i++) expect(Math.abs(y.data[i]! - full.output.data[t * B * R + i]!)).toBeLessThan(1e-6);
        if (t === 3) mid = s.state();
      }
      const st = s.state();
      for (let i = 0; i < st.h.data.length; i++) expect(Math.abs(st.h.data[i]! - full.h.data[i]!)).toBeLessThan(1e-6);
      // restore the state after step 3 and replay the rest
      s.restore(mid!);
      for (let t = 4; t < T; t++) {
        const y = s.step(new Tensor(x.data.slice(t * B * 5, (t + 1) * B * 5), [B, 5]));
        for (let i = 0; i < B * R; i++) expect(Math.abs(y.data[i]! - full.output.data[t * B * R + i]!)).toBeLessThan(1e-6);
      }
      s.reset();
      const y0 = s.step(new Tensor(x.data.slice(0, B * 5), [B, 5]));
      for (let i = 0; i < B * R; i++) expect(Math.abs(y0.data[i]! - full.output.data[i]!)).toBeLessThan(1e-6);
      s.dispose();
      s.dispose();
      expect(() => s.step(new Tensor(x.data.slice(0, B * 5), [B, 5]))).toThrow(expect.objectContaining({ code: 'RNNX_DISPOSED' }));
      layer.dispose();
    });
  }

  it("a batch-1 stream's output is [R] for an unbatched frame and [1, R] for a batched one, a frozen shape either way", () => {
    const layer = new GRU({ inputSize: 4, hiddenSize: 5, seed: 2 });
    const s = layer.stream();
    const a = s.step(new Tensor(new Float32Array(4).fill(0.5), [4]));
    const b = s.step(new Tensor(new Float32Array(4).fill(0.5), [1, 4]));
    const c = s.step(new Float32Array(4).fill(0.5));
    expect(a.shape).toEqual([5]);
    expect(b.shape).toEqual([1, 5]);
    expect(c.shape).toEqual([5]);
    for (const t of [a, b, c]) expect(Object.isFrozen(t.shape)).toBe(true);
    expect(a.data).not.toBe(c.data);
    s.dispose();
    layer.dispose();
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: small outputs share slabs yet each step's output is its own, kept across many slabs`, () => {
      // 200 steps of a 96-wide state (384 or 768 bytes a step) fill several 64 KiB slabs; every output
      // kept must still hold its step's values, each is a cache-line-aligned view, and writing one
      // changes no other.
      const r = rng(21);
      const layer = new LSTM({ inputSize: 3, hiddenSize: 96, seed: 4, dtype });
      const T = 200;
      const x64 = randn(r, [T, 1, 3]);
      const x = new Tensor(dtype === 'float64' ? Float64Array.from(x64.data) : Float32Array.from(x64.data), [T, 1, 3]);
      const full = layer.forward(x);
      const s = layer.stream();
      const tol = dtype === 'float64' ? 1e-12 : 1e-6;
      const kept = [];
      const copies: number[][] = [];
      for (let t = 0; t < T; t++) {
        const y = s.step(x.data.slice(t * 3, (t + 1) * 3) as Float32Array);
        kept.push(y);
        copies.push(Array.from(y.data));
      }
      const buffers = new Set(kept.map((y) => y.data.buffer));
      expect(buffers.size).toBeGreaterThan(1);
      for (let t = 0; t < T; t++) {
        const y = kept[t]!;
        expect(y.shape).toEqual([96]);
        expect(y.data).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expect(y.data.byteOffset % 64).toBe(0);
        expect(Array.from(y.data)).toEqual(copies[t]); // no later step wrote over it
        for (let i = 0; i < 96; i++) expect(Math.abs(y.data[i]! - full.output.data[t * 96 + i]!)).toBeLessThan(tol);
      }
      kept[5]!.data.fill(7);
      for (const t of [4, 6]) expect(Array.from(kept[t]!.data)).toEqual(copies[t]);
      // a forward's final states (small) are slab views too: equal to the last step's output
      const again = layer.forward(x);
      expect(again.h.data.buffer.byteLength).toBe(1 << 16);
      for (let i = 0; i < 96; i++) expect(Math.abs(again.h.data[i]! - copies[T - 1]![i]!)).toBeLessThan(tol);
      s.dispose();
      layer.dispose();
    });
  }

  it('forwardAsync gives the same numbers as forward, and its tape backprops', async () => {
    const r = rng(9);
    const l = new GRU({ inputSize: 4, hiddenSize: 8, numLayers: 2, bidirectional: true });
    const x = randn(r, [12, 3, 4]) as Tensor<Float32Array>;
    const a = l.forward(x, { lengths: [12, 5, 7] });
    const b = await l.forwardAsync(x, { lengths: [12, 5, 7] });
    expect(Array.from(b.output.data)).toEqual(Array.from(a.output.data));
    expect(Array.from(b.h.data)).toEqual(Array.from(a.h.data));
    const t1 = l.forward(x, { requiresGrad: true });
    const t2 = await l.forwardAsync(x, { requiresGrad: true });
    const g1 = t1.backward({ output: new Tensor(new Float32Array(t1.output.data.length).fill(1), t1.output.shape) });
    const g2 = t2.backward({ output: new Tensor(new Float32Array(t2.output.data.length).fill(1), t2.output.shape) });
    expect(Array.from(g2.input.data)).toEqual(Array.from(g1.input.data));
    l.dispose();
  });

  it('a tape is released after backward unless retained', () => {
    const l = new RNN({ inputSize: 2, hiddenSize: 3 });
    const x = new Tensor(new Float32Array(8).fill(0.5), [4, 1, 2]);
    const t = l.forward(x, { requiresGrad: true });
    const g1 = t.backward({}, { retain: true });
    const g2 = t.backward();
    expect(Array.from(g2.weights.weight_hh_l0!.data)).toEqual(Array.from(g1.weights.weight_hh_l0!.data));
    expect(t.disposed).toBe(true);
    expect(() => t.backward()).toThrow(expect.objectContaining({ code: 'RNNX_DISPOSED' }));
    l.dispose();
  });
});
