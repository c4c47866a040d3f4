/**
 * The rnnx model description (docs/model-format.md): parsing and checking (the file is untrusted
 * input), and its translation into the native model spec.
 */
import { InvalidArgumentError, ModelFormatError } from '../errors.js';
import type { NativeDType, NativeModelLayer, NativeModelSpec, NativeRnnConfig } from '../native/types.js';
import { toNativeActivation } from '../layers/activations.js';
import { isPlainObject } from '../validate.js';
import type { TokenizerJSON } from '../tokenizer/Tokenizer.js';

export type PoolMode = 'last' | 'mean' | 'max' | 'meanmax';
export type DenseActivation = 'none' | 'relu' | 'tanh' | 'sigmoid';

export interface EmbeddingLayer {
  type: 'embedding';
  name: string;
  num_embeddings: number;
  embedding_dim: number;
  padding_idx?: number;
}
export interface DropoutLayer {
  type: 'dropout';
  p: number;
}
export interface RecurrentLayer {
  type: 'lstm' | 'gru' | 'rnn';
  name: string;
  hidden_size: number;
  num_layers?: number;
  bidirectional?: boolean;
  proj_size?: number;
  bias?: boolean;
  dropout?: number;
  nonlinearity?: 'tanh' | 'relu';
}
export interface PoolLayer {
  type: 'pool';
  mode: PoolMode;
}
export interface DenseLayer {
  type: 'dense';
  name: string;
  in_features: number;
  out_features: number;
  activation?: DenseActivation;
  bias?: boolean;
}
export interface SoftmaxLayer {
  type: 'softmax';
}
export type LayerDescription = EmbeddingLayer | DropoutLayer | RecurrentLayer | PoolLayer | DenseLayer | SoftmaxLayer;

export interface ModelDescription {
  version: 1;
  input: { type: 'ids' } | { type: 'features'; size: number };
  layers: LayerDescription[];
  /** What predict()/run() return: probabilities (softmax last), logits, or values (regression). */
  outputs?: 'probabilities' | 'logits' | 'values';
  /** Classifiers: one label per output unit. */
  labels?: string[];
  tokenizer?: TokenizerJSON;
  /** Out-of-scope detection: a top probability below `threshold` → `label`. */
  oos?: { label: string; threshold: number };
  /** Free-form, informative (how the model was trained). */
  training?: unknown;
  /** Free-form, informative (audio feature settings and the like). */
  features?: unknown;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_W = 2 ** 24;

/**
 * Checks a description (from a file or from a user) and returns a normalised copy (defaults
 * filled in). Errors are ModelFormatError naming `file` when given, else InvalidArgumentError.
 */
export function checkDescription(raw: unknown, file?: string): ModelDescription {
  const fail = (reason: string): never => {
    if (file !== undefined) throw new ModelFormatError(file, `model description: ${reason}`);
    throw new InvalidArgumentError(`description: ${reason}`, { param: 'description', expected: 'a valid rnnx model description', received: reason });
  };
  if (!isPlainObject(raw)) fail('expected an object');
  const d = raw as Record<string, unknown>;
  if (d.version !== 1) fail(`version must be 1, got ${JSON.stringify(d.version)}`);
  const int = (v: unknown, where: string, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${where} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num01 = (v: unknown, where: string): number => {
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) fail(`${where} must be a number in [0, 1), got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (v: unknown, where: string, dflt: boolean): boolean => {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') fail(`${where} must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const name = (v: unknown, where: string): string => {
    if (typeof v !== 'string' || !NAME.test(v)) fail(`${where} must be an identifier (letters, digits, _), got ${JSON.stringify(v)}`);
    return v as string;
  };
  if (!isPlainObject(d.input)) fail('input must be an object');
  const inp = d.input as Record<string, unknown>;
  let input: ModelDescription['input'];
  if (inp.type === 'ids') input = { type: 'ids' };
  else if (inp.type === 'features') input = { type: 'features', size: int(inp.size, 'input.size', 1, MAX_W) };
  else return fail(`input.type must be "ids" or "features", got ${JSON.stringify(inp.type)}`);
  if (!Array.isArray(d.layers) || d.layers.length === 0 || d.layers.length > 4096) fail('layers must be an array of 1..4096 layers');
  const layers: LayerDescription[] = [];
  const names = new Set<string>();
  let width = input.type === 'features' ? input.size : 0;
  let seq = true;
  (d.layers as unknown[]).forEach((l, i) => {
    const w = `layers[${i}]`;
    if (!isPlainObject(l)) fail(`${w} must be an object`);
    const L = l as Record<string, unknown>;
    const named = (): string => {
      const n = name(L.name, `${w}.name`);
      if (names.has(n)) fail(`${w}.name "${n}" is used twice`);
      names.add(n);
      return n;
    };
    switch (L.type) {
      case 'embedding': {
        if (i !== 0 || input.type !== 'ids') fail(`${w}: an embedding layer may only come first, on ids input`);
        const n = named();
        const V = int(L.num_embeddings, `${w}.num_embeddings`, 1, 2 ** 31 - 1);
        const E = int(L.embedding_dim, `${w}.embedding_dim`, 1, MAX_W);
        const pad = L.padding_idx === undefined || L.padding_idx === null ? -1 : int(L.padding_idx, `${w}.padding_idx`, -1, V - 1);
        layers.push({ type: 'embedding', name: n, num_embeddings: V, embedding_dim: E, padding_idx: pad });
        width = E;
        break;
      }
      case 'dropout':
        layers.push({ type: 'dropout', p: num01(L.p, `${w}.p`) });
        break;
      case 'lstm':
      case 'gru':
      case 'rnn': {
        if (!seq) fail(`${w}: a recurrent layer cannot come after a pool`);
        if (width === 0) fail(`${w}: a recurrent layer needs an input (an embedding, or features input)`);
        const n = named();
        if (L.input_size !== undefined && L.input_size !== width) fail(`${w}.input_size is ${JSON.stringify(L.input_size)} but the layer before gives ${width}`);
        const H = int(L.hidden_size, `${w}.hidden_size`, 1, MAX_W);
        const proj = L.proj_size === undefined ? 0 : int(L.proj_size, `${w}.proj_size`, 0, H - 1);
        if (proj > 0 && L.type !== 'lstm') fail(`${w}.proj_size is only for lstm layers`);
        let nl: 'tanh' | 'relu' | undefined;
        if (L.type === 'rnn') {
          if (L.nonlinearity !== undefined && L.nonlinearity !== 'tanh' && L.nonlinearity !== 'relu')
            fail(`${w}.nonlinearity must be "tanh" or "relu", got ${JSON.stringify(L.nonlinearity)}`);
          nl = (L.nonlinearity as 'tanh' | 'relu' | undefined) ?? 'tanh';
        }
        const layer: RecurrentLayer = {
          type: L.type,
          name: n,
          hidden_size: H,
          num_layers: L.num_layers === undefined ? 1 : int(L.num_layers, `${w}.num_layers`, 1, 1024),
          bidirectional: bool(L.bidirectional, `${w}.bidirectional`, false),
          proj_size: proj,
          bias: bool(L.bias, `${w}.bias`, true),
          dropout: num01(L.dropout, `${w}.dropout`),
        };
        if (nl !== undefined) layer.nonlinearity = nl;
        layers.push(layer);
        width = (layer.bidirectional ? 2 : 1) * (proj > 0 ? proj : H);
        break;
      }
      case 'pool': {
        if (!seq) fail(`${w}: there is already a pool before`);
        if (width === 0) fail(`${w}: a pool needs an input`);
        const m = L.mode;
        if (m !== 'last' && m !== 'mean' && m !== 'max' && m !== 'meanmax')
          fail(`${w}.mode must be "last", "mean", "max" or "meanmax", got ${JSON.stringify(m)}`);
        layers.push({ type: 'pool', mode: m as PoolMode });
        if (m === 'meanmax') width *= 2;
        seq = false;
        break;
      }
      case 'dense': {
        if (width === 0) fail(`${w}: a dense layer needs an input`);
        const n = named();
        const fi = int(L.in_features, `${w}.in_features`, 1, MAX_W);
        if (fi !== width) fail(`${w}.in_features is ${fi} but the layer before gives ${width}`);
        const fo = int(L.out_features, `${w}.out_features`, 1, MAX_W);
        const a = L.activation ?? 'none';
        if (a !== 'none' && a !== 'relu' && a !== 'tanh' && a !== 'sigmoid')
          fail(`${w}.activation must be "none", "relu", "tanh" or "sigmoid", got ${JSON.stringify(a)}`);
        layers.push({ type: 'dense', name: n, in_features: fi, out_features: fo, activation: a as DenseActivation, bias: bool(L.bias, `${w}.bias`, true) });
        width = fo;
        break;
      }
      case 'softmax':
        if (i !== (d.layers as unknown[]).length - 1) fail(`${w}: softmax may only be the last layer`);
        layers.push({ type: 'softmax' });
        break;
      default:
        fail(`${w}.type must be one of embedding, dropout, lstm, gru, rnn, pool, dense, softmax; got ${JSON.stringify(L.type)}`);
    }
  });
  if (input.type === 'ids' && layers[0]?.type !== 'embedding') fail('a model with ids input must start with an embedding layer');
  const out: ModelDescription = { version: 1, input, layers };
  const last = layers[layers.length - 1] as LayerDescription;
  const outputs = d.outputs ?? (last.type === 'softmax' ? 'probabilities' : 'logits');
  if (outputs !== 'probabilities' && outputs !== 'logits' && outputs !== 'values')
    fail(`outputs must be "probabilities", "logits" or "values", got ${JSON.stringify(outputs)}`);
  if (outputs === 'probabilities' && last.type !== 'softmax') fail('outputs "probabilities" needs a final softmax layer');
  out.outputs = outputs as ModelDescription['outputs'];
  if (d.labels !== undefined) {
    if (!Array.isArray(d.labels) || !d.labels.every((x) => typeof x === 'string')) fail('labels must be an array of strings');
    if ((d.labels as string[]).length !== width) fail(`labels has ${(d.labels as string[]).length} entries but the model has ${width} outputs`);
    if (new Set(d.labels as string[]).size !== (d.labels as string[]).length) fail('labels must be unique');
    out.labels = (d.labels as string[]).slice();
  }
  if (d.tokenizer !== undefined) {
    if (!isPlainObject(d.tokenizer)) fail('tokenizer must be an object');
    out.tokenizer = d.tokenizer as unknown as TokenizerJSON;
  }
  if (d.oos !== undefined) {
    const o = d.oos as Record<string, unknown>;
    if (!isPlainObject(o) || typeof o.label !== 'string' || typeof o.threshold !== 'number' || !(o.threshold >= 0 && o.threshold <= 1))
      fail('oos must be { label: string, threshold: number in [0, 1] }');
    out.oos = { label: o.label as string, threshold: o.threshold as number };
  }
  if (d.training !== undefined) out.training = d.training;
  if (d.features !== undefined) out.features = d.features;
  return out;
}

/** The native spec of a checked description. */
export function toNativeSpec(d: ModelDescription, dtype: NativeDType): NativeModelSpec {
  const layers: NativeModelLayer[] = d.layers.map((l): NativeModelLayer => {
    switch (l.type) {
      case 'embedding':
        return { type: 'embedding', name: l.name, numEmbeddings: l.num_embeddings, embeddingDim: l.embedding_dim, paddingIdx: l.padding_idx ?? -1 };
      case 'dropout':
        return { type: 'dropout', p: l.p };
      case 'lstm':
      case 'gru':
      case 'rnn': {
        const acts =
          l.type === 'rnn'
            ? [toNativeActivation(l.nonlinearity ?? 'tanh', 'nonlinearity'), toNativeActivation('tanh', 'g'), toNativeActivation('tanh', 'h')]
            : [toNativeActivation('sigmoid', 'f'), toNativeActivation('tanh', 'g'), toNativeActivation('tanh', 'h')];
        const rnn: NativeRnnConfig = {
          cell: l.type,
          inputSize: 1, // set by the model from the layer before
          hiddenSize: l.hidden_size,
          projSize: l.proj_size ?? 0,
          numLayers: l.num_layers ?? 1,
          bidirectional: l.bidirectional ?? false,
          batchFirst: false,
          bias: l.bias ?? true,
          linearBeforeReset: true,
          activations: acts as NativeRnnConfig['activations'],
          clip: 0,
          dtype,
        };
        return { type: 'recurrent', name: l.name, rnn, dropout: l.dropout ?? 0 };
      }
      case 'pool':
        return { type: 'pool', mode: l.mode };
      case 'dense':
        return { type: 'dense', name: l.name, inFeatures: l.in_features, outFeatures: l.out_features, activation: l.activation ?? 'none', bias: l.bias ?? true };
      case 'softmax':
        return { type: 'softmax' };
    }
  });
  return { dtype, input: d.input.type === 'ids' ? { type: 'ids' } : { type: 'features', size: d.input.size }, layers };
}
