// The whole-model PyTorch fixtures (test/fixtures/pytorch, scripts/gen-pytorch-models.py) are
// self-consistent rnnx model files (docs/model-format.md): the description in __metadata__ equals
// NAME.json, the tensors are those the layers name with the shapes they imply, and the expected
// outputs are reproduced in float64 by rnnx's own recurrent layers plus a plain JS embedding,
// pool and dense — so the fixtures check a loader, and are themselves checked.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { entryToFloat64, entryToInt32, readSafetensorsSync } from '../../lib/io/safetensors.js';
import { GRU } from '../../lib/layers/GRU.js';
import { LSTM } from '../../lib/layers/LSTM.js';
import { RNN } from '../../lib/layers/RNN.js';
import { Tensor } from '../../lib/tensor.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/pytorch');
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5))
  .sort();

type Layer = Record<string, any>;

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs((got[i] as number) - (want[i] as number)));
    m = Math.max(m, Math.abs(want[i] as number));
  }
  return got.length === want.length ? d / m : Infinity;
}

/** The description run in float64: ids [B, T] → [B, O]. */
function reference(desc: { layers: Layer[] }, w: Map<string, { data: Float64Array; shape: number[] }>, ids: Int32Array, lengths: Int32Array, B: number, T: number): Float64Array {
  let seq: { data: Float64Array; F: number } | undefined; // [T, B, F]
  let h: Float64Array | undefined; // final states [L*D, B, R]
  let vec: { data: Float64Array; F: number } | undefined; // [B, F]
  let rec: Layer | undefined;
  for (const l of desc.layers) {
    switch (l.type) {
      case 'embedding': {
        const E = w.get(`${l.name}.weight`)!;
        const F = l.embedding_dim as number;
        const x = new Float64Array(T * B * F);
        for (let b = 0; b < B; b++)
          for (let t = 0; t < T; t++) x.set(E.data.subarray(ids[b * T + t]! * F, (ids[b * T + t]! + 1) * F), (t * B + b) * F);
        seq = { data: x, F };
        break;
      }
      case 'dropout':
        break;
      case 'lstm':
      case 'gru':
      case 'rnn': {
        rec = l;
        const sd: Record<string, Tensor> = {};
        for (const [k, v] of w) if (k.startsWith(`${l.name}.`)) sd[k.slice(l.name.length + 1)] = new Tensor(v.data, v.shape);
        const opts = { inputSize: l.input_size, hiddenSize: l.hidden_size, numLayers: l.num_layers, bidirectional: l.bidirectional, bias: l.bias, dtype: 'float64' as const };
        const layer =
          l.type === 'lstm'
            ? LSTM.fromStateDict(sd, { ...opts, projSize: l.proj_size })
            : l.type === 'gru'
              ? GRU.fromStateDict(sd, opts)
              : RNN.fromStateDict(sd, { ...opts, nonlinearity: l.nonlinearity });
        const r = layer.forward(new Tensor(seq!.data, [T, B, seq!.F]), { lengths });
        const F = r.output.shape[2]!;
        seq = { data: Float64Array.from(r.output.data), F };
        h = Float64Array.from(r.h.data);
        layer.dispose();
        break;
      }
      case 'pool': {
        const F = seq!.F;
        const mean = new Float64Array(B * F);
        const max = new Float64Array(B * F).fill(-Infinity);
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < lengths[b]!; t++)
            for (let f = 0; f < F; f++) {
              const v = seq!.data[(t * B + b) * F + f]!;
              mean[b * F + f] += v / lengths[b]!;
              max[b * F + f] = Math.max(max[b * F + f]!, v);
            }
        }
        if (l.mode === 'mean') vec = { data: mean, F };
        else if (l.mode === 'max') vec = { data: max, F };
        else if (l.mode === 'meanmax') {
          const out = new Float64Array(B * 2 * F);
          for (let b = 0; b < B; b++) {
            out.set(mean.subarray(b * F, (b + 1) * F), b * 2 * F);
            out.set(max.subarray(b * F, (b + 1) * F), b * 2 * F + F);
          }
          vec = { data: out, F: 2 * F };
        } else {
          // last: the last layer's final states, forward then reverse
          const D = rec!.bidirectional ? 2 : 1;
          const R = F / D;
          const LD = rec!.num_layers * D;
          const out = new Float64Array(B * F);
          for (let b = 0; b < B; b++)
            for (let d = 0; d < D; d++) out.set(h!.subarray(((LD - D + d) * B + b) * R, ((LD - D + d) * B + b + 1) * R), b * F + d * R);
          vec = { data: out, F };
        }
        break;
      }
      case 'dense': {
        const W = w.get(`${l.name}.weight`)!.data;
        const bias = w.get(`${l.name}.bias`)?.data;
        const O = l.out_features as number;
        const I = l.in_features as number;
        expect(vec!.F).toBe(I);
        const out = new Float64Array(B * O);
        for (let b = 0; b < B; b++)
          for (let o = 0; o < O; o++) {
            let s = bias ? bias[o]! : 0;
            for (let i = 0; i < I; i++) s += W[o * I + i]! * vec!.data[b * I + i]!;
            out[b * O + o] = l.activation === 'relu' ? Math.max(0, s) : l.activation === 'tanh' ? Math.tanh(s) : l.activation === 'sigmoid' ? 1 / (1 + Math.exp(-s)) : s;
          }
        vec = { data: out, F: O };
        break;
      }
      case 'softmax': {
        const F = vec!.F;
        for (let b = 0; b < B; b++) {
          const row = vec!.data.subarray(b * F, (b + 1) * F);
          const m = Math.max(...row);
          let z = 0;
          for (let i = 0; i < F; i++) z += Math.exp(row[i]! - m);
          for (let i = 0; i < F; i++) row[i] = Math.exp(row[i]! - m) / z;
        }
        break;
      }
      default:
        throw new Error(`unknown layer type ${l.type}`);
    }
  }
  return vec!.data;
}

describe('PyTorch whole-model fixtures', () => {
  it('cover every recurrent cell and pool mode', () => {
    const layers = names.flatMap((n) => JSON.parse(readFileSync(join(DIR, `${n}.json`), 'utf8')).layers as Layer[]);
    expect(new Set(layers.filter((l) => ['lstm', 'gru', 'rnn'].includes(l.type)).map((l) => l.type))).toEqual(new Set(['lstm', 'gru', 'rnn']));
    expect(new Set(layers.filter((l) => l.type === 'pool').map((l) => l.mode))).toEqual(new Set(['last', 'mean', 'max', 'meanmax']));
  });

  for (const name of names) {
    it(`${name}: a valid rnnx model file whose expected output rnnx reproduces in float64`, () => {
      const desc = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8'));
      for (const suffix of ['.safetensors', '.json', '.io.safetensors']) expect(statSync(join(DIR, name + suffix)).size).toBeLessThan(50_000);
      const model = readSafetensorsSync(join(DIR, `${name}.safetensors`));
      expect(model.metadata.format).toBe('rnnx');
      expect(JSON.parse(model.metadata.rnnx!)).toEqual(desc);
      expect(desc.version).toBe(1);
      expect(desc.input).toEqual({ type: 'ids' });
      const w = new Map<string, { data: Float64Array; shape: number[] }>();
      for (const [k, e] of model.tensors) {
        expect(e.dtype).toBe('F32');
        w.set(k, { data: entryToFloat64(e), shape: e.shape });
      }
      // tensor names: embedding / dense weights as documented (the recurrent ones are checked by fromStateDict)
      for (const l of desc.layers as Layer[]) {
        if (l.type === 'embedding') expect(w.get(`${l.name}.weight`)?.shape).toEqual([l.num_embeddings, l.embedding_dim]);
        if (l.type === 'dense') {
          expect(w.get(`${l.name}.weight`)?.shape).toEqual([l.out_features, l.in_features]);
          expect(w.get(`${l.name}.bias`)?.shape).toEqual([l.out_features]);
        }
        if (l.type === 'embedding' && l.padding_idx >= 0) {
          const row = w.get(`${l.name}.weight`)!.data.subarray(l.padding_idx * l.embedding_dim, (l.padding_idx + 1) * l.embedding_dim);
          expect(Array.from(row).every((v) => v === 0)).toBe(true);
        }
      }
      const io = readSafetensorsSync(join(DIR, `${name}.io.safetensors`));
      const idsE = io.tensors.get('ids')!;
      const lenE = io.tensors.get('lengths')!;
      const expE = io.tensors.get('expected')!;
      expect([idsE.dtype, lenE.dtype, expE.dtype]).toEqual(['I32', 'I32', 'F64']);
      const [B, T] = idsE.shape as [number, number];
      const ids = entryToInt32(idsE);
      const lengths = entryToInt32(lenE);
      // padding 0 exactly after each sequence's length, never inside it
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) expect(ids[b * T + t] === 0).toBe(t >= lengths[b]!);
      const expected = entryToFloat64(expE);
      const got = reference(desc, w, ids, lengths, B, T);
      expect(expE.shape[0]).toBe(B);
      expect(relErr(got, expected)).toBeLessThan(1e-12);
      if (desc.outputs === 'probabilities') {
        for (let b = 0; b < B; b++) expect(expected.subarray(b * expE.shape[1]!, (b + 1) * expE.shape[1]!).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 12);
      }
    });
  }
});
