/**
 * Sequential models: every block's gradient against central finite differences (float64, with
 * dropout masks fixed by the seed), and the float32 path against the float64 one.
 */
import { describe, expect, it } from 'vitest';
import { SequentialModel, type ModelDescription } from '../../lib/index.js';
import type { NativeLoss, NativeModelBatch } from '../../lib/native/types.js';
import { mulberry32 } from '../../lib/random.js';

type Case = { name: string; desc: ModelDescription; loss: 'crossEntropy' | 'mse'; smoothing?: number };

const ids = (layers: ModelDescription['layers'], extra: Partial<ModelDescription> = {}): ModelDescription => ({
  version: 1,
  input: { type: 'ids' },
  layers,
  ...extra,
});

const CASES: Case[] = [
  {
    name: 'embedding → dropout → 2-layer bidirectional LSTM (dropout between) → max pool → dense relu → dense → softmax, CE with smoothing',
    desc: ids([
      { type: 'embedding', name: 'embed', num_embeddings: 11, embedding_dim: 5, padding_idx: 0 },
      { type: 'dropout', p: 0.3 },
      { type: 'lstm', name: 'rnn', hidden_size: 4, num_layers: 2, bidirectional: true, dropout: 0.25 },
      { type: 'pool', mode: 'max' },
      { type: 'dense', name: 'fc1', in_features: 8, out_features: 6, activation: 'relu' },
      { type: 'dense', name: 'fc2', in_features: 6, out_features: 3 },
      { type: 'softmax' },
    ]),
    loss: 'crossEntropy',
    smoothing: 0.1,
  },
  {
    name: 'embedding → GRU → last pool → tanh dense, CE on logits',
    desc: ids([
      { type: 'embedding', name: 'e', num_embeddings: 9, embedding_dim: 4 },
      { type: 'gru', name: 'g', hidden_size: 5, bidirectional: true },
      { type: 'pool', mode: 'last' },
      { type: 'dense', name: 'd', in_features: 10, out_features: 4, activation: 'tanh' },
    ]),
    loss: 'crossEntropy',
  },
  {
    name: 'embedding → RNN relu → meanmax pool → dense sigmoid, MSE',
    desc: ids([
      { type: 'embedding', name: 'e', num_embeddings: 7, embedding_dim: 3 },
      { type: 'rnn', name: 'r', hidden_size: 4, nonlinearity: 'tanh' },
      { type: 'pool', mode: 'meanmax' },
      { type: 'dense', name: 'd', in_features: 8, out_features: 2, activation: 'sigmoid' },
    ]),
    loss: 'mse',
  },
  {
    name: 'features → LSTM with projection → mean pool → dense → softmax, MSE through the softmax',
    desc: {
      version: 1,
      input: { type: 'features', size: 3 },
      layers: [
        { type: 'lstm', name: 'l', hidden_size: 5, proj_size: 3 },
        { type: 'pool', mode: 'mean' },
        { type: 'dense', name: 'd', in_features: 3, out_features: 3 },
        { type: 'softmax' },
      ],
    },
    loss: 'mse',
  },
  {
    name: 'features → GRU → per-step dense (no pool), CE per step',
    desc: {
      version: 1,
      input: { type: 'features', size: 2 },
      layers: [
        { type: 'gru', name: 'g', hidden_size: 4, num_layers: 2 },
        { type: 'dropout', p: 0.2 },
        { type: 'dense', name: 'd', in_features: 4, out_features: 3 },
      ],
    },
    loss: 'crossEntropy',
  },
];

function makeBatch(desc: ModelDescription, rnd: () => number, B: number, T: number, lengths: number[]): NativeModelBatch {
  const b: NativeModelBatch = { batch: B, seqLen: T, lengths: Int32Array.from(lengths) };
  if (desc.input.type === 'ids') {
    const first = desc.layers[0];
    const V = first?.type === 'embedding' ? first.num_embeddings : 2;
    // ids repeat (the embedding gradient accumulates) and include the padding id
    b.ids = Int32Array.from({ length: B * T }, () => Math.floor(rnd() * V));
  } else {
    const F = desc.input.size;
    b.features = Float64Array.from({ length: B * T * F }, () => rnd() * 2 - 1);
  }
  return b;
}

function makeLoss(c: Case, m: SequentialModel, rnd: () => number, B: number, T: number, lengths: number[]): NativeLoss {
  const O = m.nativeModel.outputSize;
  const perStep = m.nativeModel.perStep;
  const rows = perStep ? B * T : B;
  if (c.loss === 'crossEntropy') {
    const t = Int32Array.from({ length: rows }, () => Math.floor(rnd() * O));
    if (perStep) for (let b = 0; b < B; b++) for (let s = lengths[b] as number; s < T; s++) t[b * T + s] = -1;
    if (perStep) t[0] = -1; // an ignored step
    return { kind: 'crossEntropy', classTargets: t, labelSmoothing: c.smoothing ?? 0 };
  }
  return { kind: 'mse', valueTargets: Float64Array.from({ length: rows * O }, () => rnd()), labelSmoothing: 0 };
}

describe('sequential model gradients (float64, central differences)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const m = SequentialModel.create(c.desc, { seed: 3, dtype: 'float64' });
      try {
        const rnd = mulberry32(11);
        const B = 3;
        const T = 5;
        const lengths = [5, 2, 4];
        const batch = makeBatch(c.desc, rnd, B, T, lengths);
        const loss = makeLoss(c, m, rnd, B, T, lengths);
        const nm = m.nativeModel;
        const seed = 42;
        const g = nm.gradients(batch, loss, seed);
        expect(g.count).toBeGreaterThan(0);
        const p0 = nm.getParams() as Float64Array;
        const h = 1e-6;
        let worst = 0;
        let checked = 0;
        let nonzero = 0;
        // the padding row is frozen by definition (PyTorch's padding_idx): no gradient, by design
        const first = c.desc.layers[0];
        const frozen = first?.type === 'embedding' && (first.padding_idx ?? -1) >= 0 ? [(first.padding_idx as number) * first.embedding_dim, ((first.padding_idx as number) + 1) * first.embedding_dim] : [0, 0];
        for (let i = 0; i < p0.length; i++) {
          if (i >= (frozen[0] as number) && i < (frozen[1] as number)) {
            expect(g.grads[i]).toBe(0);
            continue;
          }
          const p = Float64Array.from(p0);
          p[i] = (p0[i] as number) + h;
          nm.setParams(p);
          const lp = nm.gradients(batch, loss, seed).loss;
          p[i] = (p0[i] as number) - h;
          nm.setParams(p);
          const lm = nm.gradients(batch, loss, seed).loss;
          const fd = (lp - lm) / (2 * h);
          const an = g.grads[i] as number;
          const err = Math.abs(fd - an) / Math.max(1e-3, Math.abs(fd) + Math.abs(an));
          worst = Math.max(worst, err);
          checked++;
          if (Math.abs(an) > 1e-8) nonzero++;
        }
        nm.setParams(p0);
        expect(checked).toBe(p0.length - ((frozen[1] as number) - (frozen[0] as number)));
        expect(nonzero).toBeGreaterThan(p0.length / 4);
        expect(worst).toBeLessThan(1e-5);
      } finally {
        m.dispose();
      }
    });
  }

  it('the padding row of an embedding gets no gradient', () => {
    const c = CASES[0] as Case;
    const m = SequentialModel.create(c.desc, { seed: 3, dtype: 'float64' });
    const rnd = mulberry32(5);
    const batch = makeBatch(c.desc, rnd, 3, 5, [5, 2, 4]);
    (batch.ids as Int32Array).fill(0, 0, 3);
    const g = m.nativeModel.gradients(batch, makeLoss(c, m, rnd, 3, 5, [5, 2, 4]), 1).grads;
    expect(Array.from(g.subarray(0, 5))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(g.subarray(5, 55)).some((v) => v !== 0)).toBe(true);
    m.dispose();
  });
});

describe('float32 against float64', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const m64 = SequentialModel.create(c.desc, { seed: 9, dtype: 'float64' });
      const m32 = SequentialModel.create(c.desc, { seed: 9, dtype: 'float32' });
      try {
        m32.nativeModel.setParams(Float32Array.from(m64.nativeModel.getParams()));
        m64.nativeModel.setParams(Float64Array.from(m32.nativeModel.getParams()));
        const rnd = mulberry32(2);
        const b64 = makeBatch(c.desc, rnd, 4, 6, [6, 1, 3, 5]);
        const b32 = { ...b64 };
        if (b64.features) b32.features = Float32Array.from(b64.features);
        const o64 = m64.nativeModel.forward(b64).output;
        const o32 = m32.nativeModel.forward(b32).output;
        let mx = 0;
        let err = 0;
        for (let i = 0; i < o64.length; i++) {
          mx = Math.max(mx, Math.abs(o64[i] as number));
          err = Math.max(err, Math.abs((o64[i] as number) - (o32[i] as number)));
        }
        expect(o64.length).toBeGreaterThan(0);
        expect(err / mx).toBeLessThan(1e-5);
      } finally {
        m64.dispose();
        m32.dispose();
      }
    });
  }
});
