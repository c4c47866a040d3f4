/**
 * Training data: checking, bucketing by length, shuffling, and padding into native batches.
 */
import { invalidArg, InvalidArgumentError } from '../errors.js';
import { mulberry32 } from '../random.js';

/**
 * A dataset: one input sequence per example — token ids (ids models) or feature frames flattened
 * [T * F] (feature models) — and its target:
 * - cross-entropy, pooled model: a class index per example (`targets[i]` a number);
 * - cross-entropy, per-step model: a class index per step (`targets[i]` an array of length T_i; -1 ignores a step);
 * - MSE, pooled model: a value vector of the output width (or a number when it is 1);
 * - MSE, per-step model: T_i * O values.
 */
export interface TrainData {
  inputs: readonly ArrayLike<number>[];
  targets: ArrayLike<number> | readonly (ArrayLike<number> | number)[];
}

export interface DataShape {
  ids: boolean;          // token ids, else features
  featureSize: number;   // features models
  outputSize: number;
  perStep: boolean;
  loss: 'crossEntropy' | 'mse';
  vocabSize: number;     // ids models: number of embedding rows
  float64?: boolean;     // the model computes in float64 (features and value targets as Float64Array)
}

/** Checks a dataset against the model and the loss; returns the sequence lengths. */
export function checkData(data: unknown, shape: DataShape, param: string): Int32Array {
  if (data === null || typeof data !== 'object') throw invalidArg(param, 'an object { inputs, targets }', data);
  const d = data as TrainData;
  if (!Array.isArray(d.inputs)) throw invalidArg(`${param}.inputs`, 'an array of sequences', d.inputs);
  const n = d.inputs.length;
  if (n === 0) throw new InvalidArgumentError(`${param}.inputs: the dataset is empty`, { param: `${param}.inputs`, expected: 'at least one example', received: 'an empty array' });
  const t = d.targets as ArrayLike<unknown>;
  if (t === null || typeof t !== 'object' || typeof t.length !== 'number') throw invalidArg(`${param}.targets`, 'an array of targets', d.targets);
  if (t.length !== n)
    throw new InvalidArgumentError(`${param}.targets: ${t.length} targets for ${n} inputs (they must match one to one)`, {
      param: `${param}.targets`,
      expected: `${n} targets`,
      received: `${t.length}`,
    });
  const lengths = new Int32Array(n);
  const F = shape.ids ? 1 : shape.featureSize;
  const O = shape.outputSize;
  for (let i = 0; i < n; i++) {
    const x = d.inputs[i];
    if (x === null || typeof x !== 'object' || typeof (x as ArrayLike<number>).length !== 'number')
      throw invalidArg(`${param}.inputs[${i}]`, shape.ids ? 'an array of token ids' : 'an array of feature values', x);
    const len = (x as ArrayLike<number>).length;
    if (len === 0 || len % F !== 0)
      throw invalidArg(`${param}.inputs[${i}]`, shape.ids ? 'a non-empty sequence of token ids' : `a non-empty multiple of ${F} values (T frames of ${F})`, `${len} values`);
    const T = len / F;
    lengths[i] = T;
    if (shape.ids) {
      for (let j = 0; j < len; j++) {
        const v = (x as ArrayLike<number>)[j] as number;
        if (!Number.isInteger(v) || v < 0 || v >= shape.vocabSize)
          throw invalidArg(`${param}.inputs[${i}][${j}]`, `a token id in 0..${shape.vocabSize - 1}`, v);
      }
    } else {
      for (let j = 0; j < len; j++)
        if (!Number.isFinite((x as ArrayLike<number>)[j])) throw invalidArg(`${param}.inputs[${i}][${j}]`, 'a finite number', (x as ArrayLike<number>)[j]);
    }
    const y = t[i];
    if (shape.loss === 'crossEntropy') {
      if (!shape.perStep) {
        if (typeof y !== 'number' || !Number.isInteger(y) || y < 0 || y >= O)
          throw invalidArg(`${param}.targets[${i}]`, `a class index in 0..${O - 1} (unknown label?)`, y);
      } else {
        const a = y as ArrayLike<number>;
        if (a === null || typeof a !== 'object' || a.length !== T) throw invalidArg(`${param}.targets[${i}]`, `${T} class indices (one per step)`, y);
        for (let j = 0; j < T; j++) {
          const v = a[j] as number;
          if (!Number.isInteger(v) || v < -1 || v >= O) throw invalidArg(`${param}.targets[${i}][${j}]`, `a class index in 0..${O - 1}, or -1 to ignore`, v);
        }
      }
    } else {
      const want = shape.perStep ? T * O : O;
      if (typeof y === 'number') {
        if (want !== 1 || !Number.isFinite(y)) throw invalidArg(`${param}.targets[${i}]`, `${want} finite values`, y);
      } else {
        const a = y as ArrayLike<number>;
        if (a === null || typeof a !== 'object' || a.length !== want) throw invalidArg(`${param}.targets[${i}]`, `${want} values`, y);
        for (let j = 0; j < want; j++) if (!Number.isFinite(a[j])) throw invalidArg(`${param}.targets[${i}][${j}]`, 'a finite number', a[j]);
      }
    }
  }
  return lengths;
}

/**
 * The epoch's batches as lists of example indices. With `bucket`, examples are sorted by length
 * inside pools of 50 batches (so each batch pads little) and the batch order is shuffled; with
 * `shuffle` only, a plain permutation. Deterministic in (seed, epoch).
 */
export function planBatches(
  lengths: Int32Array,
  batchSize: number,
  opts: { shuffle: boolean; bucket: boolean; seed: number; epoch: number },
): Int32Array[] {
  const n = lengths.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const rnd = mulberry32((opts.seed * 1000003 + opts.epoch * 7919) >>> 0);
  const shuffle = <T>(a: T[]): void => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      const tmp = a[i] as T;
      a[i] = a[j] as T;
      a[j] = tmp;
    }
  };
  if (opts.shuffle) shuffle(idx);
  const batches: Int32Array[] = [];
  if (opts.bucket) {
    const pool = batchSize * 50;
    for (let s = 0; s < n; s += pool) {
      const part = idx.slice(s, s + pool).sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
      for (let k = 0; k < part.length; k += batchSize) batches.push(Int32Array.from(part.slice(k, k + batchSize)));
    }
    if (opts.shuffle) shuffle(batches);
  } else {
    for (let k = 0; k < n; k += batchSize) batches.push(Int32Array.from(idx.slice(k, k + batchSize)));
  }
  return batches;
}

export interface PaddedBatch {
  batch: number;
  seqLen: number;
  ids?: Int32Array;
  features?: Float32Array | Float64Array;
  lengths: Int32Array;
  classTargets?: Int32Array;
  valueTargets?: Float32Array | Float64Array;
}

/**
 * Pads the examples `rows` into one batch ([B, T_max]); per-step targets past a row's end are -1
 * (ignored). `tokenDropout` replaces input ids by `unkId` with probability p (training only).
 */
export function padBatch(
  data: TrainData,
  lengths: Int32Array,
  rows: Int32Array,
  shape: DataShape,
  tokenDropout?: { p: number; unkId: number; rnd: () => number },
): PaddedBatch {
  const B = rows.length;
  let T = 1;
  for (const r of rows) T = Math.max(T, lengths[r] as number);
  const lens = new Int32Array(B);
  const out: PaddedBatch = { batch: B, seqLen: T, lengths: lens };
  const F = shape.featureSize;
  const O = shape.outputSize;
  if (shape.ids) out.ids = new Int32Array(B * T);
  else out.features = shape.float64 ? new Float64Array(B * T * F) : new Float32Array(B * T * F);
  const ce = shape.loss === 'crossEntropy';
  if (ce) out.classTargets = new Int32Array(shape.perStep ? B * T : B).fill(shape.perStep ? -1 : 0);
  else out.valueTargets = shape.float64 ? new Float64Array((shape.perStep ? B * T : B) * O) : new Float32Array((shape.perStep ? B * T : B) * O);
  const targets = data.targets as ArrayLike<unknown>;
  for (let b = 0; b < B; b++) {
    const i = rows[b] as number;
    const L = lengths[i] as number;
    lens[b] = L;
    const x = data.inputs[i] as ArrayLike<number>;
    if (out.ids) {
      for (let t = 0; t < L; t++) {
        let v = x[t] as number;
        if (tokenDropout && tokenDropout.p > 0 && tokenDropout.rnd() < tokenDropout.p) v = tokenDropout.unkId;
        out.ids[b * T + t] = v;
      }
    } else {
      const f = out.features as Float32Array | Float64Array;
      for (let k = 0; k < L * F; k++) f[b * T * F + k] = x[k] as number;
    }
    const y = targets[i];
    if (ce) {
      const ct = out.classTargets as Int32Array;
      if (!shape.perStep) ct[b] = y as number;
      else for (let t = 0; t < L; t++) ct[b * T + t] = (y as ArrayLike<number>)[t] as number;
    } else {
      const vt = out.valueTargets as Float32Array | Float64Array;
      if (!shape.perStep) {
        if (typeof y === 'number') vt[b] = y;
        else for (let j = 0; j < O; j++) vt[b * O + j] = (y as ArrayLike<number>)[j] as number;
      } else {
        for (let k = 0; k < L * O; k++) vt[b * T * O + k] = (y as ArrayLike<number>)[k] as number;
      }
    }
  }
  return out;
}
