// Helpers for the tfjs loader tests: writing small layers models, and a plain float64 reference
// of Keras / tfjs semantics (masked steps keep the state and repeat the previous output).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../../lib/random.js';
import { tempDir } from '../helpers/tmp.js';

export interface W {
  name: string;
  shape: number[];
  data: Float32Array;
}

export function makeRng(seed: number) {
  const r = mulberry32(seed);
  return {
    r,
    w(name: string, shape: number[], scale = 0.5): W {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = (r() * 2 - 1) * scale;
      return { name, shape, data };
    },
    x(n: number, scale = 1): Float32Array {
      const d = new Float32Array(n);
      for (let i = 0; i < n; i++) d[i] = (r() * 2 - 1) * scale;
      return d;
    },
  };
}

/** Writes model.json + weights.bin into a new temp folder; returns the model.json path. */
export function writeModel(topology: unknown, weights: W[], extra: Record<string, unknown> = {}): string {
  const dir = tempDir('rnnx-tfjs-');
  const total = weights.reduce((n, w) => n + w.data.length, 0);
  const bin = new Float32Array(total);
  let off = 0;
  for (const w of weights) {
    bin.set(w.data, off);
    off += w.data.length;
  }
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(bin.buffer));
  const json = {
    format: 'layers-model',
    generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
    ...extra,
  };
  const file = join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(json));
  return file;
}

export function sequential(layers: unknown[], kerasVersion = 'tfjs-layers 4.22.0') {
  return { class_name: 'Sequential', config: { name: 'seq', layers }, keras_version: kerasVersion, backend: 'tensor_flow.js' };
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));
export const ACT: Record<string, (x: number) => number> = {
  tanh: Math.tanh,
  sigmoid: sig,
  hard_sigmoid: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
  hard_sigmoid3: (x) => Math.min(1, Math.max(0, x / 6 + 0.5)),
  relu: (x) => Math.max(0, x),
  linear: (x) => x,
};

export interface CellRef {
  cell: 'lstm' | 'gru' | 'rnn';
  I: number;
  H: number;
  kernel: Float32Array;
  rec: Float32Array;
  bias: Float32Array | null;
  resetAfter?: boolean;
  act: string;
  recAct?: string;
}

/**
 * Keras recurrent layer on x [B, T, I] (float64 math). Returns the per-step outputs in
 * processing order (reversed time for goBackwards, as Keras returns them) and the final h, c.
 */
export function refRecurrent(p: CellRef, x: ArrayLike<number>, B: number, T: number, goBackwards: boolean, mask: Uint8Array | null) {
  const { I, H, kernel, rec, bias } = p;
  const G = p.cell === 'lstm' ? 4 : p.cell === 'gru' ? 3 : 1;
  const g = ACT[p.act]!;
  const f = ACT[p.recAct ?? 'hard_sigmoid']!;
  const seq = new Float64Array(B * T * H);
  const hOut = new Float64Array(B * H);
  const cOut = new Float64Array(B * H);
  for (let b = 0; b < B; b++) {
    let h = new Float64Array(H);
    let c = new Float64Array(H);
    for (let s = 0; s < T; s++) {
      const t = goBackwards ? T - 1 - s : s;
      const on = mask ? mask[b * T + t] === 1 : true;
      const xk = new Float64Array(G * H);
      const hk = new Float64Array(G * H);
      for (let j = 0; j < G * H; j++) {
        let a = bias ? (bias[j] as number) : 0;
        for (let i = 0; i < I; i++) a += (x[(b * T + t) * I + i] as number) * (kernel[i * G * H + j] as number);
        xk[j] = a;
        let r = p.resetAfter && bias ? (bias[G * H + j] as number) : 0;
        for (let k = 0; k < H; k++) r += h[k]! * (rec[k * G * H + j] as number);
        hk[j] = r;
      }
      const hn = new Float64Array(H);
      const cn = new Float64Array(H);
      if (p.cell === 'lstm') {
        for (let u = 0; u < H; u++) {
          const ig = f(xk[u]! + hk[u]!);
          const fg = f(xk[H + u]! + hk[H + u]!);
          const cc = g(xk[2 * H + u]! + hk[2 * H + u]!);
          const og = f(xk[3 * H + u]! + hk[3 * H + u]!);
          cn[u] = fg * c[u]! + ig * cc;
          hn[u] = og * g(cn[u]!);
        }
      } else if (p.cell === 'gru') {
        const z = new Float64Array(H);
        const r = new Float64Array(H);
        for (let u = 0; u < H; u++) {
          z[u] = f(xk[u]! + hk[u]!);
          r[u] = f(xk[H + u]! + hk[H + u]!);
        }
        for (let u = 0; u < H; u++) {
          let rh: number;
          if (p.resetAfter) rh = r[u]! * hk[2 * H + u]!;
          else {
            rh = 0;
            for (let k = 0; k < H; k++) rh += r[k]! * h[k]! * (rec[k * G * H + 2 * H + u] as number);
          }
          const hh = g(xk[2 * H + u]! + rh);
          hn[u] = z[u]! * h[u]! + (1 - z[u]!) * hh;
        }
      } else {
        for (let u = 0; u < H; u++) hn[u] = g(xk[u]! + hk[u]!);
      }
      if (on) {
        h = hn;
        c = cn;
      }
      seq.set(h, (b * T + s) * H);
    }
    hOut.set(h, b * H);
    cOut.set(c, b * H);
  }
  return { seq, h: hOut, c: cOut };
}

/** Reverses [B, T, H] along time. */
export function reverseTime(y: Float64Array, B: number, T: number, H: number): Float64Array {
  const out = new Float64Array(y.length);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out.set(y.subarray((b * T + T - 1 - t) * H, (b * T + T - t) * H), (b * T + t) * H);
  return out;
}

export function refDense(x: ArrayLike<number>, rows: number, I: number, k: Float32Array, b: Float32Array | null, U: number, act = 'linear') {
  const y = new Float64Array(rows * U);
  for (let r = 0; r < rows; r++)
    for (let u = 0; u < U; u++) {
      let a = b ? (b[u] as number) : 0;
      for (let i = 0; i < I; i++) a += (x[r * I + i] as number) * (k[i * U + u] as number);
      y[r * U + u] = act === 'softmax' ? a : ACT[act]!(a);
    }
  if (act === 'softmax')
    for (let r = 0; r < rows; r++) {
      const row = y.subarray(r * U, (r + 1) * U);
      const m = Math.max(...row);
      let s = 0;
      for (let u = 0; u < U; u++) s += Math.exp(row[u]! - m);
      for (let u = 0; u < U; u++) row[u] = Math.exp(row[u]! - m) / s;
    }
  return y;
}

export function rnnCfg(cls: string, name: string, units: number, o: Record<string, unknown> = {}) {
  return {
    class_name: cls,
    config: {
      name,
      units,
      activation: 'tanh',
      ...(cls === 'SimpleRNN' ? {} : { recurrent_activation: 'hard_sigmoid' }),
      use_bias: true,
      return_sequences: false,
      return_state: false,
      go_backwards: false,
      stateful: false,
      ...o,
    },
  };
}
