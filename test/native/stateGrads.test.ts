// Per-step state gradients dL/dh_t (backward({ ... }, { stateGrads: true })): checked against the
// same model restarted at step t (its dL/dh0, plus the output gradient at t), in float64.
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor } from '../../lib/index.js';
import type { Recurrent, Tape } from '../../lib/layers/Recurrent.js';
import { maxRelErr, randn, rng } from '../helpers/random.js';

const make: Record<string, (o: Record<string, unknown>) => Recurrent> = {
  lstm: (o) => new LSTM(o as never),
  gru: (o) => new GRU(o as never),
  rnn: (o) => new RNN(o as never),
};

describe('per-step state gradients', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: dL/dh_t equals the restarted model's dL/dh0 plus the output gradient at t`, () => {
      const r = rng(21);
      const T = 6;
      const B = 2;
      const I = 3;
      const H = 4;
      const layer = make[cell]!({ inputSize: I, hiddenSize: H, dtype: 'float64', seed: 8 });
      const x = randn(r, [T, B, I], 1, 'float64') as Tensor<Float64Array>;
      const tape = layer.forward(x, { requiresGrad: true }) as Tape;
      const gy = randn(r, [T, B, H], 1, 'float64') as Tensor<Float64Array>;
      const gh = randn(r, [1, B, H], 1, 'float64') as Tensor<Float64Array>;
      const g = tape.backward({ output: gy, h: gh }, { stateGrads: true });
      expect(g.stateGrads!.shape).toEqual([1, T, B, H]);
      const sg = g.stateGrads!.data;
      // the last step: output gradient plus final-state gradient
      for (let i = 0; i < B * H; i++) expect(sg[(T - 1) * B * H + i]).toBeCloseTo(gy.data[(T - 1) * B * H + i]! + gh.data[i]!, 12);
      for (let t = 0; t < T - 1; t++) {
        // state after step t (and cell state for the LSTM), from a forward over the prefix
        const pre = layer.forward(new Tensor(x.data.slice(0, (t + 1) * B * I), [t + 1, B, I]));
        const rest = new Tensor(x.data.slice((t + 1) * B * I), [T - t - 1, B, I]);
        const t2 = layer.forward(rest, { h0: pre.h, c0: pre.c, requiresGrad: true }) as Tape;
        const g2 = t2.backward({ output: new Tensor(gy.data.slice((t + 1) * B * H), [T - t - 1, B, H]), h: gh });
        const want = new Float64Array(B * H);
        for (let i = 0; i < B * H; i++) want[i] = g2.h0.data[i]! + gy.data[t * B * H + i]!;
        expect(maxRelErr(sg.slice(t * B * H, (t + 1) * B * H), want), `t=${t}`).toBeLessThan(1e-10);
      }
      layer.dispose();
    });
  }

  it('is zero at padded steps, time-major for batchFirst, one block per layer and direction', () => {
    const r = rng(5);
    const l = new GRU({ inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, batchFirst: true });
    const x = randn(r, [2, 4, 3]) as Tensor<Float32Array>; // [B, T, I]
    const tape = l.forward(x, { lengths: [4, 2], requiresGrad: true });
    const g = tape.backward({ output: new Tensor(new Float32Array(2 * 4 * 10).fill(1), [2, 4, 10]) }, { stateGrads: true });
    expect(g.stateGrads!.shape).toEqual([4, 4, 2, 5]);
    const s = g.stateGrads!.data;
    for (let blk = 0; blk < 4; blk++)
      for (let t = 2; t < 4; t++) for (let k = 0; k < 5; k++) expect(s[((blk * 4 + t) * 2 + 1) * 5 + k]).toBe(0);
    let nonzero = 0;
    for (const v of s) if (v !== 0) nonzero++;
    expect(nonzero).toBeGreaterThan(0);
    expect(() => tape.backward({}, { stateGrads: 'yes' as never })).toThrow(/stateGrads/);
    l.dispose();
  });
});
