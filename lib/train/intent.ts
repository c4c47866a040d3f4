/**
 * `rnnx train intent`: the bundled chatbot model. Trains a recurrent intent classifier on CLINC150
 * (data/clinc150), picks the out-of-scope threshold on the validation split only, measures the
 * test split through classify(), and writes the model file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { invalidArg } from '../errors.js';
import { getBinding, packageRoot } from '../native/binding.js';
import { WordTokenizer } from '../tokenizer/WordTokenizer.js';
import { BpeTokenizer } from '../tokenizer/BpeTokenizer.js';
import { HybridTokenizer } from '../tokenizer/HybridTokenizer.js';
import type { Tokenizer } from '../tokenizer/Tokenizer.js';
import { SequentialModel } from '../model/Sequential.js';
import type { LayerDescription, ModelDescription } from '../model/description.js';
import { fit, type FitOptions, type History } from './fit.js';

export interface IntentRecipe {
  tokenizer: 'word' | 'bpe' | 'hybrid';
  bpeVocabSize: number;
  /** Word tokenizer: numbers become <num>. */
  numberToken: boolean;
  /** Out-of-scope as an extra class trained on oos_train. */
  oosClass: boolean;
  /**
   * 'val': classify() also answers oos below a top-probability threshold, the one that maximises
   * accuracy over val + oos_val; 'none': no threshold (with oosClass, the class alone decides).
   * Either way the report gives the test figures at the val-chosen threshold.
   */
  oosThreshold: 'val' | 'none';
  /** Moving average of the weights (decay; 0 = off). */
  ema: number;
  /**
   * After choosing the epoch count (early stopping) and the oos threshold on val, train again from
   * scratch on train + val for that many epochs and keep the threshold (the test split is never seen).
   */
  refit: boolean;
  minCount: number;
  embeddingDim: number;
  cell: 'lstm' | 'gru' | 'rnn';
  hiddenSize: number;
  numLayers: number;
  /** Dropout between the recurrent stack's layers (numLayers > 1). */
  rnnDropout: number;
  bidirectional: boolean;
  pool: 'last' | 'mean' | 'max' | 'meanmax';
  embedDropout: number;
  outDropout: number;
  tokenDropout: number;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  labelSmoothing: number;
  clipNorm: number;
  warmupSteps: number;
  patience: number;
  seed: number;
}

/** The recipe of the bundled model. */
export const DEFAULT_RECIPE: IntentRecipe = {
  tokenizer: 'word',
  bpeVocabSize: 6000,
  numberToken: false,
  oosClass: true,
  oosThreshold: 'none',
  ema: 0.998,
  refit: true,
  minCount: 2,
  embeddingDim: 256,
  cell: 'lstm',
  hiddenSize: 320,
  numLayers: 1,
  rnnDropout: 0,
  bidirectional: true,
  pool: 'meanmax',
  embedDropout: 0.4,
  outDropout: 0.4,
  tokenDropout: 0.15,
  epochs: 25,
  batchSize: 64,
  lr: 2e-3,
  weightDecay: 0.01,
  labelSmoothing: 0.1,
  clipNorm: 5,
  warmupSteps: 200,
  patience: 5,
  seed: 1,
};

type Pair = [string, string];
export interface Clinc150 {
  train: Pair[];
  val: Pair[];
  test: Pair[];
  oos_train: Pair[];
  oos_val: Pair[];
  oos_test: Pair[];
}

export async function readClinc150(path?: string): Promise<Clinc150> {
  const file = path ?? join(packageRoot(), 'data', 'clinc150', 'data_full.json');
  const d = JSON.parse(await readFile(file, 'utf8')) as Clinc150;
  for (const k of ['train', 'val', 'test', 'oos_train', 'oos_val', 'oos_test'] as const)
    if (!Array.isArray(d[k])) throw invalidArg('data', `CLINC150 data_full.json with a "${k}" split`, file);
  return d;
}

export interface IntentReport {
  recipe: IntentRecipe;
  threads: number;
  isa: string;
  cpu: string;
  trainSeconds: number;
  epochsRun: number;
  bestEpoch: number | null;
  /** The threshold the model file uses (0 = none). */
  threshold: number;
  /** The val-chosen threshold, and the test figures with it. */
  valThreshold: { threshold: number; testInScopeAccuracy: number; testOosRecall: number };
  val: { inScopeAccuracy: number; oosRecall: number };
  test: { inScopeAccuracy: number; inScopeAccuracyNoOos: number; oosRecall: number; n: number; nOos: number };
  history: History['epochs'];
  parameters: number;
  vocabSize: number;
}

/** Accuracy figures of classify-style decisions with a threshold. */
function scoreSplit(probs: Float64Array, K: number, gold: number[], threshold: number, oosIdx = -1): { correct: number; oos: number } {
  let correct = 0;
  let oos = 0;
  for (let i = 0; i < gold.length; i++) {
    let best = 0;
    for (let j = 1; j < K; j++) if ((probs[i * K + j] as number) > (probs[i * K + best] as number)) best = j;
    const top = probs[i * K + best] as number;
    const pred = top < threshold || best === oosIdx ? oosIdx : best;
    if (pred === oosIdx) oos++;
    if (pred === gold[i]) correct++;
  }
  return { correct, oos };
}

export async function trainIntent(
  opts: { data?: string; out?: string; recipe?: Partial<IntentRecipe>; progress?: FitOptions['progress']; signal?: AbortSignal; checkpoint?: string; resume?: boolean } = {},
): Promise<{ model: SequentialModel; report: IntentReport }> {
  const r: IntentRecipe = { ...DEFAULT_RECIPE, ...(opts.recipe ?? {}) };
  const d = await readClinc150(opts.data);
  const texts = d.train.map((p) => p[0]);
  const wordOpts = { minCount: r.minCount, numbers: r.numberToken ? ('token' as const) : ('keep' as const) };
  const tok: Tokenizer =
    r.tokenizer === 'bpe'
      ? BpeTokenizer.train(texts, { vocabSize: r.bpeVocabSize })
      : r.tokenizer === 'hybrid'
        ? HybridTokenizer.train(texts, { word: wordOpts, subword: { vocabSize: r.bpeVocabSize } })
        : WordTokenizer.train(texts, wordOpts);
  const labels = [...new Set(d.train.map((p) => p[1]))].sort();
  if (r.oosClass) labels.push('oos');
  const oosIdx = r.oosClass ? labels.length - 1 : -1;
  const index = new Map(labels.map((l, i) => [l, i]));
  const enc = (pairs: Pair[]) => ({
    inputs: pairs.map((p) => {
      const ids = tok.encode(p[0]);
      return ids.length > 0 ? ids : Int32Array.of(1);
    }),
    targets: pairs.map((p) => {
      const k = index.get(p[1]);
      if (k === undefined) throw invalidArg('data', `labels known from the train split`, p[1]);
      return k;
    }),
  });
  const train = enc(r.oosClass ? [...d.train, ...d.oos_train] : d.train);
  const val = enc(d.val);
  const D = r.bidirectional ? 2 : 1;
  const feat = D * r.hiddenSize * (r.pool === 'meanmax' ? 2 : 1);
  const layers: LayerDescription[] = [
    { type: 'embedding', name: 'embed', num_embeddings: tok.vocabSize, embedding_dim: r.embeddingDim, padding_idx: 0 },
    { type: 'dropout', p: r.embedDropout },
    { type: r.cell, name: 'rnn', hidden_size: r.hiddenSize, num_layers: r.numLayers, bidirectional: r.bidirectional, dropout: r.rnnDropout },
    { type: 'pool', mode: r.pool },
    { type: 'dropout', p: r.outDropout },
    { type: 'dense', name: 'fc', in_features: feat, out_features: labels.length },
    { type: 'softmax' },
  ];
  const description: ModelDescription = { version: 1, input: { type: 'ids' }, layers, labels, tokenizer: tok.toJSON() };
  let model = SequentialModel.create(description, { seed: r.seed });
  const t0 = performance.now();
  const fitOpts: FitOptions = {
    epochs: r.epochs,
    batchSize: r.batchSize,
    optimizer: { type: 'adamw', lr: r.lr, weightDecay: r.weightDecay },
    schedule: { type: 'cosine', warmupSteps: r.warmupSteps },
    labelSmoothing: r.labelSmoothing,
    clipNorm: r.clipNorm,
    tokenDropout: { p: r.tokenDropout, unkId: tok.vocab.unkId },
    validation: val,
    earlyStopping: { patience: r.patience, monitor: 'valAccuracy', restoreBest: true },
    seed: r.seed,
    progress: opts.progress ?? false,
    ...(r.ema > 0 ? { ema: r.ema } : {}),
  };
  if (opts.signal) fitOpts.signal = opts.signal;
  if (opts.checkpoint) fitOpts.checkpoint = opts.checkpoint;
  if (opts.resume) fitOpts.resume = opts.resume;
  const history = await fit(model, train, fitOpts);

  // out-of-scope threshold: the one that maximises accuracy over val + oos_val (validation only)
  const K = labels.length;
  const valTexts = [...d.val, ...d.oos_val];
  const valGold = valTexts.map((p) => index.get(p[1]) ?? oosIdx);
  const vp = await model.probabilities(valTexts.map((p) => p[0]));
  let bestT = 0;
  let bestAcc = -1;
  for (let t = 0; t <= 0.95; t += 0.01) {
    const s = scoreSplit(vp, K, valGold, t, oosIdx);
    if (s.correct > bestAcc) {
      bestAcc = s.correct;
      bestT = Math.round(t * 100) / 100;
    }
  }
  const usedT = r.oosThreshold === 'val' ? bestT : 0;
  const valIn = scoreSplit(vp.subarray(0, d.val.length * K), K, valGold.slice(0, d.val.length), usedT, oosIdx);
  const valOos = scoreSplit(vp.subarray(d.val.length * K), K, valGold.slice(d.val.length), usedT, oosIdx);
  let refitEpochs: number | null = null;
  if (r.refit) {
    refitEpochs = history.bestEpoch ?? history.epochs.length;
    const again = SequentialModel.create(description, { seed: r.seed });
    const all = enc(r.oosClass ? [...d.train, ...d.oos_train, ...d.val] : [...d.train, ...d.val]);
    const { validation: _v, earlyStopping: _e, checkpoint: _c, resume: _r, ...rest } = fitOpts;
    await fit(again, all, { ...rest, epochs: refitEpochs });
    model.dispose();
    model = again;
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  model.withDescription({
    oos: { label: 'oos', threshold: usedT },
    training: {
      dataset: 'CLINC150 (data_full.json), train split; oos threshold from val + oos_val',
      recipe: r,
      epochs: history.epochs.length,
      bestEpoch: history.bestEpoch,
    },
  });

  // test: one pass over each split; scoreSplit makes classify()'s decision (top below the
  // threshold, or the oos class, answers oos), so the figures at the model's own threshold are
  // what classify() gives (test/model/intent-model.test.ts measures it through classify()).
  const testGold = d.test.map((p) => index.get(p[1]) as number);
  const tp = await model.probabilities(d.test.map((p) => p[0]));
  const top = await model.probabilities(d.oos_test.map((p) => p[0]));
  const oosGold = d.oos_test.map(() => oosIdx);
  const inCorrect = scoreSplit(tp, K, testGold, usedT, oosIdx).correct;
  const oosRecall = scoreSplit(top, K, oosGold, usedT, oosIdx).oos / d.oos_test.length;
  const noOos = scoreSplit(tp, K, testGold, 0, oosIdx);
  const atT = scoreSplit(tp, K, testGold, bestT, oosIdx);
  const atTOos = scoreSplit(top, K, oosGold, bestT, oosIdx);
  const info = getBinding().cpuInfo();
  const report: IntentReport = {
    recipe: r,
    threads: getBinding().getThreads(),
    isa: info.selected,
    cpu: cpus()[0]?.model ?? 'unknown',
    trainSeconds: totalSeconds,
    epochsRun: history.epochs.length + (refitEpochs ?? 0),
    bestEpoch: history.bestEpoch,
    threshold: usedT,
    valThreshold: { threshold: bestT, testInScopeAccuracy: atT.correct / d.test.length, testOosRecall: atTOos.oos / d.oos_test.length },
    val: { inScopeAccuracy: valIn.correct / d.val.length, oosRecall: valOos.oos / d.oos_val.length },
    test: { inScopeAccuracy: inCorrect / d.test.length, inScopeAccuracyNoOos: noOos.correct / d.test.length, oosRecall, n: d.test.length, nOos: d.oos_test.length },
    history: history.epochs,
    parameters: model.parameterCount,
    vocabSize: tok.vocabSize,
  };
  model.withDescription({ training: { ...(model.description.training as object), report: { ...report, history: undefined } } });
  if (opts.out) await model.save(opts.out);
  return { model, report };
}
