/**
 * fit(): the training loop. Each step is one native call (forward with dropout, loss, BPTT,
 * clipping, optimizer update) on a libuv worker, so the event loop stays free; the loop itself
 * only plans batches, pads them and reports progress.
 */
import { existsSync } from 'node:fs';
import { AbortError, InvalidArgumentError, ModelFormatError, fromNative, invalidArg } from '../errors.js';
import { Tensor } from '../tensor.js';
import { readSafetensors, entryToFloat32, entryToFloat64 } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { NativeLoss, NativeModelBatch, NativeOptim } from '../native/types.js';
import { mulberry32 } from '../random.js';
import { checkOptions, isPlainObject } from '../validate.js';
import type { SequentialModel } from '../model/Sequential.js';
import { checkData, padBatch, planBatches, type DataShape, type PaddedBatch, type TrainData } from './data.js';
import { ProgressBar } from './progress.js';

export type { TrainData } from './data.js';

export interface OptimizerOptions {
  type: 'sgd' | 'adam' | 'adamw';
  /** Base learning rate (default 1e-3; SGD 1e-2). */
  lr?: number;
  momentum?: number; // SGD
  nesterov?: boolean; // SGD
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty (SGD, Adam) or decoupled decay (AdamW, default 0.01); matrices only, not biases. */
  weightDecay?: number;
}

export interface ScheduleOptions {
  type: 'constant' | 'cosine' | 'linear' | 'step';
  /** Linear warm-up from 0 over this many steps (default 0). */
  warmupSteps?: number;
  /** Floor of cosine / linear decay, as a fraction of lr (default 0). */
  minFactor?: number;
  /** 'step': multiply by gamma every stepEpochs epochs. */
  stepEpochs?: number;
  gamma?: number;
}

export interface EpochLog {
  epoch: number; // 1-based
  loss: number;
  accuracy: number | null; // cross-entropy only
  valLoss: number | null;
  valAccuracy: number | null;
  lr: number;
  seconds: number;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  loss?: 'crossEntropy' | 'mse';
  labelSmoothing?: number;
  optimizer?: OptimizerOptions['type'] | OptimizerOptions;
  schedule?: ScheduleOptions['type'] | ScheduleOptions;
  clipNorm?: number;
  clipValue?: number;
  validation?: TrainData;
  earlyStopping?: { patience: number; monitor?: 'valLoss' | 'valAccuracy'; restoreBest?: boolean };
  seed?: number;
  shuffle?: boolean;
  bucket?: boolean;
  /**
   * Keep an exponential moving average of the weights with this decay (e.g. 0.999), natively after
   * every step; validation, early stopping and the final weights use the average.
   */
  ema?: number;
  /** Truncated BPTT: per-step models only, chunks of this many steps with the state carried over. */
  tbptt?: number;
  /** Token dropout for ids models: replaces ids by unkId (default 1) with probability p. */
  tokenDropout?: { p: number; unkId?: number };
  /** true: a progress bar on stderr; a function receives progress instead; false: silent. */
  progress?: boolean | ((p: ProgressInfo) => void);
  signal?: AbortSignal;
  /** Path of a checkpoint written atomically after every epoch. */
  checkpoint?: string;
  /** Continue from `checkpoint` if it exists (same model and options: the result is the same as an uninterrupted run). */
  resume?: boolean;
  onEpoch?: (log: EpochLog) => void;
}

export interface ProgressInfo {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  accuracy: number | null;
  etaSeconds: number;
}

export interface History {
  epochs: EpochLog[];
  bestEpoch: number | null;
  stoppedEarly: boolean;
  seconds: number;
}

const FIT_KEYS = [
  'epochs', 'batchSize', 'loss', 'labelSmoothing', 'optimizer', 'schedule', 'clipNorm', 'clipValue', 'validation',
  'earlyStopping', 'seed', 'shuffle', 'bucket', 'ema', 'tbptt', 'tokenDropout', 'progress', 'signal', 'checkpoint', 'resume', 'onEpoch',
] as const;

function resolveOptim(o: FitOptions['optimizer']): NativeOptim {
  const spec: OptimizerOptions = typeof o === 'string' ? { type: o } : (o ?? { type: 'adam' });
  if (!isPlainObject(spec)) throw invalidArg('options.optimizer', "'sgd' | 'adam' | 'adamw' or { type, lr, ... }", o);
  checkOptions(spec as unknown as Record<string, unknown>, 'options.optimizer', ['type', 'lr', 'momentum', 'nesterov', 'beta1', 'beta2', 'eps', 'weightDecay']);
  if (spec.type !== 'sgd' && spec.type !== 'adam' && spec.type !== 'adamw') throw invalidArg('options.optimizer.type', "'sgd', 'adam' or 'adamw'", spec.type);
  const num = (v: unknown, name: string, dflt: number, lo: number, hi: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw invalidArg(`options.optimizer.${name}`, `a number in [${lo}, ${hi}]`, v);
    return v;
  };
  return {
    kind: spec.type,
    lr: num(spec.lr, 'lr', spec.type === 'sgd' ? 1e-2 : 1e-3, 0, 1e6),
    momentum: num(spec.momentum, 'momentum', 0, 0, 0.999999),
    nesterov: spec.nesterov ?? false,
    beta1: num(spec.beta1, 'beta1', 0.9, 0, 0.999999),
    beta2: num(spec.beta2, 'beta2', 0.999, 0, 0.999999999),
    eps: num(spec.eps, 'eps', 1e-8, 1e-30, 1),
    weightDecay: num(spec.weightDecay, 'weightDecay', spec.type === 'adamw' ? 0.01 : 0, 0, 1e6),
    clipNorm: 0,
    clipValue: 0,
  };
}

function resolveSchedule(s: FitOptions['schedule']): Required<ScheduleOptions> {
  const spec: ScheduleOptions = typeof s === 'string' ? { type: s } : (s ?? { type: 'constant' });
  if (!isPlainObject(spec)) throw invalidArg('options.schedule', "'constant' | 'cosine' | 'linear' | 'step' or { type, ... }", s);
  checkOptions(spec as unknown as Record<string, unknown>, 'options.schedule', ['type', 'warmupSteps', 'minFactor', 'stepEpochs', 'gamma']);
  if (!['constant', 'cosine', 'linear', 'step'].includes(spec.type)) throw invalidArg('options.schedule.type', "'constant', 'cosine', 'linear' or 'step'", spec.type);
  const r = { type: spec.type, warmupSteps: spec.warmupSteps ?? 0, minFactor: spec.minFactor ?? 0, stepEpochs: spec.stepEpochs ?? 10, gamma: spec.gamma ?? 0.1 };
  if (!Number.isInteger(r.warmupSteps) || r.warmupSteps < 0) throw invalidArg('options.schedule.warmupSteps', 'an integer >= 0', r.warmupSteps);
  if (!(r.minFactor >= 0 && r.minFactor <= 1)) throw invalidArg('options.schedule.minFactor', 'a number in [0, 1]', r.minFactor);
  if (!Number.isInteger(r.stepEpochs) || r.stepEpochs < 1) throw invalidArg('options.schedule.stepEpochs', 'an integer >= 1', r.stepEpochs);
  if (!(r.gamma > 0 && r.gamma <= 1)) throw invalidArg('options.schedule.gamma', 'a number in (0, 1]', r.gamma);
  return r;
}

/** Learning-rate factor at `step` (0-based) of `total`, in epoch `epoch` (0-based). */
export function scheduleFactor(s: Required<ScheduleOptions>, step: number, total: number, epoch: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (step + 1) / s.warmupSteps;
  const span = Math.max(1, total - s.warmupSteps);
  const p = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  switch (s.type) {
    case 'cosine':
      return s.minFactor + (1 - s.minFactor) * 0.5 * (1 + Math.cos(Math.PI * p));
    case 'linear':
      return s.minFactor + (1 - s.minFactor) * (1 - p);
    case 'step':
      return Math.pow(s.gamma, Math.floor(epoch / s.stepEpochs));
    default:
      return 1;
  }
}

function dataShape(model: SequentialModel, loss: 'crossEntropy' | 'mse'): DataShape {
  const d = model.description;
  const nm = model.nativeModel;
  const first = d.layers[0];
  return {
    ids: d.input.type === 'ids',
    featureSize: d.input.type === 'features' ? d.input.size : 1,
    outputSize: nm.outputSize,
    perStep: nm.perStep,
    loss,
    vocabSize: first?.type === 'embedding' ? first.num_embeddings : 0,
    float64: model.dtype === 'float64',
  };
}

function toNativeBatch(p: PaddedBatch): NativeModelBatch {
  const b: NativeModelBatch = { batch: p.batch, seqLen: p.seqLen, lengths: p.lengths };
  if (p.ids) b.ids = p.ids;
  if (p.features) b.features = p.features;
  return b;
}

function toNativeLoss(p: PaddedBatch, kind: 'crossEntropy' | 'mse', smoothing: number): NativeLoss {
  const l: NativeLoss = { kind, labelSmoothing: smoothing };
  if (p.classTargets) l.classTargets = p.classTargets;
  if (p.valueTargets) l.valueTargets = p.valueTargets;
  return l;
}

/** Loss and accuracy of `model` on `data` (dropout off). */
export async function evaluate(
  model: SequentialModel,
  data: TrainData,
  options: { loss?: 'crossEntropy' | 'mse'; batchSize?: number; labelSmoothing?: number } = {},
): Promise<{ loss: number; accuracy: number | null; count: number }> {
  const loss = options.loss ?? (model.description.outputs === 'values' ? 'mse' : 'crossEntropy');
  const shape = dataShape(model, loss);
  const lengths = checkData(data, shape, 'data');
  const batches = planBatches(lengths, options.batchSize ?? 128, { shuffle: false, bucket: true, seed: 0, epoch: 0 });
  let sum = 0;
  let count = 0;
  let correct = 0;
  for (const rows of batches) {
    const p = padBatch(data, lengths, rows, shape);
    const callSite = new Error();
    let r;
    try {
      r = await model.nativeModel.evaluateAsync(toNativeBatch(p), toNativeLoss(p, loss, options.labelSmoothing ?? 0));
    } catch (e) {
      throw fromNative(e, callSite);
    }
    sum += r.loss * r.count;
    count += r.count;
    correct += r.correct;
  }
  return { loss: count ? sum / count : 0, accuracy: loss === 'crossEntropy' ? (count ? correct / count : 0) : null, count };
}

interface CheckpointState {
  version: 1;
  epoch: number; // epochs completed
  optimizer: NativeOptim['kind'];
  optimStep: number;
  history: EpochLog[];
  best: number | null;
  bestEpoch: number | null;
  badEpochs: number;
  fingerprint: string;
}

/** Trains `model` on `data`. Resolves with the history; rejects with AbortError when `signal` aborts. */
export async function fit(model: SequentialModel, data: TrainData, options: FitOptions = {}): Promise<History> {
  const raw: unknown = options;
  if (!isPlainObject(raw)) throw invalidArg('options', 'an object', options);
  checkOptions(raw, 'options', FIT_KEYS);
  const int = (v: unknown, name: string, dflt: number, lo: number, hi: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw invalidArg(`options.${name}`, `an integer in ${lo}..${hi}`, v);
    return v;
  };
  const nonneg = (v: unknown, name: string, hi = 1e30): number => {
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !(v >= 0 && v <= hi)) throw invalidArg(`options.${name}`, `a number in [0, ${hi}]`, v);
    return v;
  };
  const epochs = int(options.epochs, 'epochs', 10, 1, 1e6);
  const batchSize = int(options.batchSize, 'batchSize', 32, 1, 1 << 20);
  const seed = int(options.seed, 'seed', 1, 0, 2 ** 32 - 1);
  const lossKind = options.loss ?? (model.description.outputs === 'values' ? 'mse' : 'crossEntropy');
  if (lossKind !== 'crossEntropy' && lossKind !== 'mse') throw invalidArg('options.loss', "'crossEntropy' or 'mse'", options.loss);
  const smoothing = nonneg(options.labelSmoothing, 'labelSmoothing', 0.999);
  const optim = resolveOptim(options.optimizer);
  optim.clipNorm = nonneg(options.clipNorm, 'clipNorm');
  optim.clipValue = nonneg(options.clipValue, 'clipValue');
  const schedule = resolveSchedule(options.schedule);
  const ema = nonneg(options.ema, 'ema', 0.999999);
  if (ema >= 1) throw invalidArg('options.ema', 'a decay in [0, 1)', ema);
  if (ema > 0) optim.ema = ema;
  const tbptt = int(options.tbptt, 'tbptt', 0, 0, 1 << 24);
  const shuffle = options.shuffle ?? true;
  const bucket = options.bucket ?? true;
  const nm = model.nativeModel;
  if (tbptt > 0) {
    if (!nm.perStep) throw invalidArg('options.tbptt', 'a per-step model (no pool layer) for truncated BPTT', tbptt);
    if (model.description.layers.some((l) => (l.type === 'lstm' || l.type === 'gru' || l.type === 'rnn') && l.bidirectional))
      throw invalidArg('options.tbptt', 'unidirectional recurrent layers (a reverse direction needs the whole sequence)', tbptt);
  }
  let tokenDropout: { p: number; unkId: number } | undefined;
  if (options.tokenDropout !== undefined) {
    const td = options.tokenDropout;
    if (!isPlainObject(td as unknown) || typeof td.p !== 'number' || !(td.p >= 0 && td.p < 1)) throw invalidArg('options.tokenDropout', '{ p in [0, 1), unkId? }', td);
    tokenDropout = { p: td.p, unkId: td.unkId ?? 1 };
  }
  const shape = dataShape(model, lossKind);
  if (tokenDropout && !shape.ids) throw invalidArg('options.tokenDropout', 'undefined for a features model', options.tokenDropout);
  const lengths = checkData(data, shape, 'data');
  let valLengths: Int32Array | undefined;
  if (options.validation !== undefined) valLengths = checkData(options.validation, shape, 'options.validation');
  const es = options.earlyStopping;
  if (es !== undefined) {
    if (!isPlainObject(es as unknown) || !Number.isInteger(es.patience) || es.patience < 1) throw invalidArg('options.earlyStopping', '{ patience: integer >= 1, monitor?, restoreBest? }', es);
    if (options.validation === undefined) throw invalidArg('options.validation', 'a validation set (earlyStopping monitors it)', undefined);
  }
  const monitor = es?.monitor ?? (lossKind === 'crossEntropy' ? 'valAccuracy' : 'valLoss');
  if (monitor === 'valAccuracy' && lossKind !== 'crossEntropy') throw invalidArg('options.earlyStopping.monitor', "'valLoss' for an MSE loss", monitor);
  const signal = options.signal;
  if (signal !== undefined && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean')) throw invalidArg('options.signal', 'an AbortSignal', signal);
  if (options.checkpoint !== undefined && (typeof options.checkpoint !== 'string' || options.checkpoint === '')) throw invalidArg('options.checkpoint', 'a file path', options.checkpoint);
  if (options.resume && options.checkpoint === undefined) throw invalidArg('options.checkpoint', 'a checkpoint path (resume reads it)', undefined);

  const stepsPerEpoch = planBatches(lengths, batchSize, { shuffle: false, bucket: false, seed, epoch: 0 }).length;
  const totalSteps = stepsPerEpoch * epochs;
  const fingerprint = JSON.stringify({ n: lengths.length, epochs, batchSize, seed, lossKind, smoothing, optim, schedule, tbptt, tokenDropout, params: nm.paramCount });

  const history: EpochLog[] = [];
  let best: number | null = null;
  let bestEpoch: number | null = null;
  let bestParams: Float32Array | Float64Array | null = null;
  let badEpochs = 0;
  let startEpoch = 0;
  if (options.resume && options.checkpoint !== undefined && existsSync(options.checkpoint)) {
    const st = await loadCheckpoint(model, options.checkpoint, fingerprint);
    startEpoch = st.state.epoch;
    history.push(...st.state.history);
    best = st.state.best;
    bestEpoch = st.state.bestEpoch;
    badEpochs = st.state.badEpochs;
    bestParams = st.bestParams;
  } else {
    // a fresh run: start the optimizer from zero state
    const zeros = model.dtype === 'float32' ? new Float32Array(nm.paramCount) : new Float64Array(nm.paramCount);
    nm.setOptimState(optim.kind, 0, optim.kind === 'sgd' ? [zeros] : [zeros, zeros]);
    if (ema > 0) nm.setEma(nm.getParams());
  }

  const bar = new ProgressBar(options.progress);
  const t0 = performance.now();
  let stoppedEarly = false;
  const isBetter = (v: number): boolean => best === null || (monitor === 'valAccuracy' ? v > best : v < best);
  if (es !== undefined && badEpochs >= es.patience) stoppedEarly = true;
  for (let epoch = startEpoch; epoch < epochs && !stoppedEarly; epoch++) {
    const te = performance.now();
    const batches = planBatches(lengths, batchSize, { shuffle, bucket, seed, epoch });
    const tdRnd = tokenDropout ? mulberry32((seed ^ 0x5bd1e995) + epoch * 104729) : undefined;
    let lossSum = 0;
    let count = 0;
    let correct = 0;
    let lr = optim.lr;
    for (let bi = 0; bi < batches.length; bi++) {
      if (signal?.aborted) {
        bar.done();
        throw new AbortError('fit: aborted by the signal', { cause: signal.reason });
      }
      const step = epoch * stepsPerEpoch + bi;
      lr = optim.lr * scheduleFactor(schedule, step, totalSteps, epoch);
      const p = padBatch(data, lengths, batches[bi] as Int32Array, shape, tokenDropout && tdRnd ? { ...tokenDropout, rnd: tdRnd } : undefined);
      const o = { ...optim, lr };
      const r = tbptt > 0 && p.seqLen > tbptt ? await tbpttStep(model, p, o, lossKind, smoothing, seed, tbptt) : await trainStep(model, p, o, lossKind, smoothing, seed);
      lossSum += r.loss * r.count;
      count += r.count;
      correct += r.correct;
      const elapsed = (performance.now() - t0) / 1000;
      const doneSteps = step + 1 - startEpoch * stepsPerEpoch;
      const eta = (elapsed / doneSteps) * (totalSteps - step - 1);
      bar.update({ epoch: epoch + 1, epochs, step: bi + 1, steps: batches.length, loss: count ? lossSum / count : 0, accuracy: lossKind === 'crossEntropy' && count ? correct / count : null, etaSeconds: eta });
    }
    const log: EpochLog = {
      epoch: epoch + 1,
      loss: count ? lossSum / count : 0,
      accuracy: lossKind === 'crossEntropy' ? (count ? correct / count : 0) : null,
      valLoss: null,
      valAccuracy: null,
      lr,
      seconds: (performance.now() - te) / 1000,
    };
    // with a moving average, the averaged weights are the model's weights between epochs
    const live = ema > 0 ? swapInEma(model) : null;
    if (options.validation !== undefined && valLengths !== undefined) {
      const v = await evaluate(model, options.validation, { loss: lossKind, batchSize: Math.max(batchSize, 128), labelSmoothing: 0 });
      log.valLoss = v.loss;
      log.valAccuracy = v.accuracy;
      const m = monitor === 'valAccuracy' ? (v.accuracy as number) : v.loss;
      if (isBetter(m)) {
        best = m;
        bestEpoch = epoch + 1;
        badEpochs = 0;
        if (es?.restoreBest !== false) bestParams = nm.getParams();
      } else {
        badEpochs++;
        if (es !== undefined && badEpochs >= es.patience) stoppedEarly = true;
      }
    }
    if (live !== null) nm.setParams(live);
    log.seconds = (performance.now() - te) / 1000;
    history.push(log);
    bar.epochEnd(log);
    if (options.checkpoint !== undefined) {
      const state: CheckpointState = { version: 1, epoch: epoch + 1, optimizer: optim.kind, optimStep: nm.getOptimState().step, history, best, bestEpoch, badEpochs, fingerprint };
      await saveCheckpoint(model, options.checkpoint, state, bestParams);
    }
    options.onEpoch?.(log);
  }
  bar.done();
  if (es !== undefined && es.restoreBest !== false && bestParams !== null) nm.setParams(bestParams);
  else if (ema > 0) {
    const e = nm.getEma();
    if (e !== null) nm.setParams(e);
  }
  return { epochs: history, bestEpoch, stoppedEarly, seconds: (performance.now() - t0) / 1000 };
}

/** Puts the moving average in place of the weights; returns the live weights (to put back). */
function swapInEma(model: SequentialModel): Float32Array | Float64Array | null {
  const nm = model.nativeModel;
  const e = nm.getEma();
  if (e === null) return null;
  const live = nm.getParams();
  nm.setParams(e);
  return live;
}

async function trainStep(model: SequentialModel, p: PaddedBatch, o: NativeOptim, loss: 'crossEntropy' | 'mse', smoothing: number, seed: number) {
  const callSite = new Error();
  try {
    return await model.nativeModel.trainStepAsync(toNativeBatch(p), toNativeLoss(p, loss, smoothing), o, seed);
  } catch (e) {
    throw fromNative(e, callSite);
  }
}

/**
 * Truncated BPTT over one padded batch: rows sorted by length; chunks of k steps, each a training
 * step, the final states (detached) starting the next chunk; rows that have ended leave the batch.
 */
async function tbpttStep(model: SequentialModel, p: PaddedBatch, o: NativeOptim, loss: 'crossEntropy' | 'mse', smoothing: number, seed: number, k: number) {
  const nm = model.nativeModel;
  const B = p.batch;
  const T = p.seqLen;
  const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => (p.lengths[b] as number) - (p.lengths[a] as number) || a - b);
  const O = nm.outputSize;
  const F = p.features ? p.features.length / (B * T) : 0;
  const blocks = stateBlocks(model);
  let state: Float32Array | Float64Array | null = null;
  let prevB = B;
  let lossSum = 0;
  let count = 0;
  let correct = 0;
  let gradNorm = 0;
  for (let t0 = 0; t0 < T; t0 += k) {
    let Bc = 0;
    while (Bc < B && (p.lengths[order[Bc] as number] as number) > t0) Bc++;
    if (Bc === 0) break;
    const Tc = Math.min(k, T - t0);
    const lens = new Int32Array(Bc);
    const c: PaddedBatch = { batch: Bc, seqLen: Tc, lengths: lens };
    if (p.ids) c.ids = new Int32Array(Bc * Tc);
    if (p.features) c.features = p.features instanceof Float64Array ? new Float64Array(Bc * Tc * F) : new Float32Array(Bc * Tc * F);
    if (p.classTargets) c.classTargets = new Int32Array(Bc * Tc).fill(-1);
    if (p.valueTargets) c.valueTargets = p.valueTargets instanceof Float64Array ? new Float64Array(Bc * Tc * O) : new Float32Array(Bc * Tc * O);
    for (let b = 0; b < Bc; b++) {
      const src = order[b] as number;
      const L = Math.min(Tc, (p.lengths[src] as number) - t0);
      lens[b] = L;
      for (let t = 0; t < L; t++) {
        if (c.ids && p.ids) c.ids[b * Tc + t] = p.ids[src * T + t0 + t] as number;
        if (c.features && p.features) c.features.set(p.features.subarray((src * T + t0 + t) * F, (src * T + t0 + t + 1) * F), (b * Tc + t) * F);
        if (c.classTargets && p.classTargets) c.classTargets[b * Tc + t] = p.classTargets[src * T + t0 + t] as number;
        if (c.valueTargets && p.valueTargets) c.valueTargets.set(p.valueTargets.subarray((src * T + t0 + t) * O, (src * T + t0 + t + 1) * O), (b * Tc + t) * O);
      }
    }
    const nb = toNativeBatch(c);
    nb.wantState = true;
    if (state !== null) nb.stateIn = shrinkState(state, blocks, prevB, Bc);
    const callSite = new Error();
    let r;
    try {
      r = await nm.trainStepAsync(nb, toNativeLoss(c, loss, smoothing), o, seed);
    } catch (e) {
      throw fromNative(e, callSite);
    }
    state = r.state ?? null;
    prevB = Bc;
    lossSum += r.loss * r.count;
    count += r.count;
    correct += r.correct;
    gradNorm = Math.max(gradNorm, r.gradNorm);
  }
  return { loss: count ? lossSum / count : 0, count, correct, gradNorm };
}

/** The recurrent state's blocks: per recurrent layer of every stack, [D, B, R] h then [D, B, H] c. */
function stateBlocks(model: SequentialModel): { D: number; W: number }[] {
  const out: { D: number; W: number }[] = [];
  for (const l of model.description.layers) {
    if (l.type !== 'lstm' && l.type !== 'gru' && l.type !== 'rnn') continue;
    const D = l.bidirectional ? 2 : 1;
    const R = (l.proj_size ?? 0) > 0 ? (l.proj_size as number) : l.hidden_size;
    for (let k = 0; k < (l.num_layers ?? 1); k++) {
      out.push({ D, W: R });
      if (l.type === 'lstm') out.push({ D, W: l.hidden_size });
    }
  }
  return out;
}

/** Keeps the first `Bn` batch rows of a state made for `B` rows. */
function shrinkState(s: Float32Array | Float64Array, blocks: { D: number; W: number }[], B: number, Bn: number): Float32Array | Float64Array {
  if (Bn === B) return s;
  let total = 0;
  for (const b of blocks) total += b.D * Bn * b.W;
  const out = s instanceof Float32Array ? new Float32Array(total) : new Float64Array(total);
  let src = 0;
  let dst = 0;
  for (const b of blocks)
    for (let d = 0; d < b.D; d++) {
      out.set(s.subarray(src, src + Bn * b.W), dst);
      src += B * b.W;
      dst += Bn * b.W;
    }
  return out;
}

async function saveCheckpoint(model: SequentialModel, path: string, state: CheckpointState, bestParams: Float32Array | Float64Array | null): Promise<void> {
  const nm = model.nativeModel;
  const extra = new Map<string, Tensor>();
  const os = nm.getOptimState();
  os.slots.forEach((s, i) => extra.set(`__optim__.slot${i}`, new Tensor(s, [s.length])));
  if (bestParams !== null) extra.set('__best__.params', new Tensor(bestParams, [bestParams.length]));
  const e = nm.getEma();
  if (e !== null) extra.set('__ema__.params', new Tensor(e, [e.length]));
  await writeFileAtomic(path, model.serialize(extra, { checkpoint: JSON.stringify(state) }));
}

async function loadCheckpoint(model: SequentialModel, path: string, fingerprint: string) {
  const f = await readSafetensors(path);
  const bad = (why: string): never => {
    throw new ModelFormatError(path, `checkpoint: ${why}`);
  };
  let state: CheckpointState;
  try {
    state = JSON.parse(f.metadata.checkpoint ?? 'null') as CheckpointState;
  } catch {
    return bad('__metadata__.checkpoint is not JSON');
  }
  if (!isPlainObject(state) || state.version !== 1 || !Number.isInteger(state.epoch) || !Array.isArray(state.history)) bad('__metadata__.checkpoint is missing or malformed');
  if (state.fingerprint !== fingerprint)
    throw new InvalidArgumentError(`options.resume: the checkpoint ${path} was written by a run with other data, model or options; resuming would not reproduce it`, {
      param: 'options.resume',
      expected: 'the same data, model and options as the run that wrote the checkpoint',
      received: 'different ones',
    });
  const nm = model.nativeModel;
  const conv = model.dtype === 'float32' ? entryToFloat32 : entryToFloat64;
  const flat = model.dtype === 'float32' ? new Float32Array(nm.paramCount) : new Float64Array(nm.paramCount);
  for (const p of model.paramList) {
    const e = f.tensors.get(p.name);
    if (!e || e.shape.length !== p.shape.length || e.shape.some((s, i) => s !== p.shape[i])) bad(`tensor ${p.name} is missing or has the wrong shape`);
    flat.set(conv(e as NonNullable<typeof e>), p.offset);
  }
  nm.setParams(flat);
  const slots: (Float32Array | Float64Array)[] = [];
  const nslots = state.optimizer === 'sgd' ? 1 : 2;
  for (let i = 0; i < nslots; i++) {
    const e = f.tensors.get(`__optim__.slot${i}`);
    if (!e || e.shape[0] !== nm.paramCount) bad(`optimizer state slot ${i} is missing or has the wrong size`);
    slots.push(conv(e as NonNullable<typeof e>));
  }
  nm.setOptimState(state.optimizer, state.optimStep, slots);
  const ee = f.tensors.get('__ema__.params');
  if (ee) {
    const v = conv(ee);
    if (v.length !== nm.paramCount) bad('the weight average has the wrong size');
    nm.setEma(v);
  }
  const be = f.tensors.get('__best__.params');
  let bestParams: Float32Array | Float64Array | null = null;
  if (be) {
    const v = conv(be);
    if (v.length !== nm.paramCount) bad('best parameters have the wrong size');
    bestParams = v;
  }
  return { state, bestParams };
}
