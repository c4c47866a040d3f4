/**
 * SequentialModel: embedding → recurrent stacks → pooling → dense → softmax, run natively (one
 * native call per batch), trainable (lib/train), saved as one safetensors file with its
 * description, tokenizer and labels (docs/model-format.md).
 */
import { DisposedError, InvalidArgumentError, ModelFormatError, fromNative, invalidArg } from '../errors.js';
import { Tensor } from '../tensor.js';
import { serializeSafetensors, type SerializableTensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { getBinding } from '../native/binding.js';
import type { NativeDType, NativeModel, NativeModelBatch, NativeModelParam } from '../native/types.js';
import { mulberry32 } from '../random.js';
import { isPlainObject } from '../validate.js';
import { firstNonFinite } from '../layers/Recurrent.js';
import { tokenizerFromJSON, type Tokenizer } from '../tokenizer/Tokenizer.js';
import { Model, type Classification, type ClassifyOptions } from './Model.js';
import { checkDescription, toNativeSpec, type ModelDescription } from './description.js';

export interface CreateOptions {
  /** Seed of the weight initialisation (default 1). */
  seed?: number;
  dtype?: NativeDType;
}

/** Names reserved in model files for training state (ignored when loading a model). */
export const RESERVED_PREFIX = '__';

export class SequentialModel extends Model {
  readonly inputNames: readonly string[];
  readonly outputNames = Object.freeze(['output']);
  /** The checked description (layers, labels, tokenizer JSON, oos). */
  readonly description: Readonly<ModelDescription>;
  readonly dtype: NativeDType;
  /** The tokenizer (text models). */
  readonly tokenizer: Tokenizer | undefined;
  /** @internal */
  native: NativeModel | undefined;
  /** @internal */
  readonly paramList: readonly NativeModelParam[];
  #disposed = false;

  /** @internal Use {@link SequentialModel.create} or loadModel(). */
  constructor(description: ModelDescription, native: NativeModel, dtype: NativeDType, file?: string) {
    super();
    this.description = description;
    this.native = native;
    this.dtype = dtype;
    this.paramList = Object.freeze(native.params());
    this.inputNames = Object.freeze(description.input.type === 'ids' ? ['ids', 'lengths'] : ['features', 'lengths']);
    this.tokenizer = description.tokenizer !== undefined ? tokenizerFromJSON(description.tokenizer, file) : undefined;
    if (this.tokenizer && description.layers[0]?.type === 'embedding' && this.tokenizer.vocabSize > description.layers[0].num_embeddings) {
      const msg = `the tokenizer has ${this.tokenizer.vocabSize} ids but the embedding only ${description.layers[0].num_embeddings} rows`;
      native.dispose();
      if (file !== undefined) throw new ModelFormatError(file, msg);
      throw invalidArg('description.tokenizer', 'a tokenizer whose ids fit the embedding', msg);
    }
  }

  /** A new model with freshly initialised weights (PyTorch's default schemes, seeded). */
  static create(description: ModelDescription | Record<string, unknown>, options: CreateOptions = {}): SequentialModel {
    const d = checkDescription(description);
    const dtype = options.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'float64') throw invalidArg('options.dtype', "'float32' or 'float64'", dtype);
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1) throw invalidArg('options.seed', 'an integer in 0..2^32-1', seed);
    const Native = getBinding().ModelModule;
    let native: NativeModel;
    const spec = toNativeSpec(d, dtype);
    // parameter list from a zero model of the right size
    const count = countParams(d);
    if (count > 2 ** 31 - 1) throw invalidArg('description', 'a model of at most 2^31-1 parameters', count);
    const params = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
    try {
      native = new Native(spec, params);
    } catch (e) {
      throw fromNative(e);
    }
    const rnd = mulberry32(seed);
    const uniform = (a: number): number => (rnd() * 2 - 1) * a;
    const normal = (): number => {
      const u = Math.max(rnd(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
    };
    const list = native.params();
    for (const p of list) {
      const view = params.subarray(p.offset, p.offset + p.size);
      const [layerName, pname] = splitName(p.name);
      const layer = d.layers.find((l) => 'name' in l && l.name === layerName);
      if (layer?.type === 'embedding') {
        for (let i = 0; i < view.length; i++) view[i] = normal();
        const pad = layer.padding_idx ?? -1;
        if (pad >= 0) view.fill(0, pad * layer.embedding_dim, (pad + 1) * layer.embedding_dim);
      } else if (layer?.type === 'dense') {
        const a = 1 / Math.sqrt(layer.in_features);
        for (let i = 0; i < view.length; i++) view[i] = uniform(a);
      } else if (layer && (layer.type === 'lstm' || layer.type === 'gru' || layer.type === 'rnn')) {
        const a = 1 / Math.sqrt(layer.hidden_size);
        for (let i = 0; i < view.length; i++) view[i] = uniform(a);
      } else {
        throw new InvalidArgumentError(`internal: parameter ${p.name} (${pname}) has no layer`, {});
      }
    }
    native.setParams(params);
    try {
      return new SequentialModel(d, native, dtype);
    } catch (e) {
      if (!native.disposed) native.dispose(); // e.g. a malformed tokenizer: free the native model now
      throw e;
    }
  }

  /**
   * A model from a description and named tensors (PyTorch state-dict names, see
   * docs/model-format.md). Every parameter must be present with its exact shape; tensors the
   * model does not use are an error, except names starting with `__` (training state).
   */
  static fromTensors(
    description: unknown,
    tensors: ReadonlyMap<string, Tensor>,
    options: { file?: string; dtype?: NativeDType } = {},
  ): SequentialModel {
    const file = options.file;
    const d = checkDescription(description, file);
    const dtype = options.dtype ?? 'float32';
    const fail = (msg: string): never => {
      if (file !== undefined) throw new ModelFormatError(file, msg);
      throw invalidArg('tensors', 'the tensors the description names', msg);
    };
    const count = countParams(d);
    let held = 0;
    for (const t of tensors.values()) held += t.data.length;
    // An untrusted description must not make us allocate more than the file holds.
    if (count > held) fail(`the description needs ${count} parameters but the tensors hold only ${held} values`);
    const Native = getBinding().ModelModule;
    const spec = toNativeSpec(d, dtype);
    let native: NativeModel;
    try {
      native = new Native(spec, dtype === 'float32' ? new Float32Array(count) : new Float64Array(count));
    } catch (e) {
      const err = fromNative(e);
      if (file !== undefined) throw new ModelFormatError(file, err.message, { cause: err });
      throw err;
    }
    try {
      const list = native.params();
      const flat = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
      const used = new Set<string>();
      for (const p of list) {
        const t = tensors.get(p.name);
        if (t === undefined) fail(`tensor "${p.name}" is missing (shape [${p.shape.join(', ')}])`);
        const tt = t as Tensor;
        if (tt.shape.length !== p.shape.length || tt.shape.some((s, i) => s !== p.shape[i]))
          fail(`tensor "${p.name}" has shape [${tt.shape.join(', ')}], expected [${p.shape.join(', ')}]`);
        if (tt.data instanceof Int32Array) fail(`tensor "${p.name}" is an integer tensor, expected floats`);
        const src = tt.data as Float32Array | Float64Array;
        flat.set(src, p.offset);
        const bad = firstNonFinite(flat, p.offset, p.offset + p.size);
        if (bad >= 0) fail(`tensor "${p.name}" holds a non-finite value at index ${bad - p.offset}`);
        used.add(p.name);
      }
      for (const k of tensors.keys())
        if (!used.has(k) && !k.startsWith(RESERVED_PREFIX)) fail(`tensor "${k}" is not a parameter of the described model`);
      native.setParams(flat);
      return new SequentialModel(d, native, dtype, file);
    } catch (e) {
      if (!native.disposed) native.dispose();
      throw e;
    }
  }

  /** @internal */
  get nativeModel(): NativeModel {
    if (this.#disposed || this.native === undefined) throw new DisposedError('Model is disposed; load or create a new one');
    return this.native;
  }

  /** Labels of a classifier (one per output). */
  get labels(): readonly string[] | undefined {
    return this.description.labels;
  }

  /** Number of trainable parameters. */
  get parameterCount(): number {
    return this.nativeModel.paramCount;
  }

  /** The parameters under their PyTorch names (copies). */
  stateDict(): Map<string, Tensor> {
    const flat = this.nativeModel.getParams();
    const out = new Map<string, Tensor>();
    for (const p of this.paramList) out.set(p.name, new Tensor(flat.slice(p.offset, p.offset + p.size), p.shape));
    return out;
  }

  /** Inputs `ids` ([B, T] Int32) or `features` ([B, T, F]), optional `lengths` (Int32 [B]). */
  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const batch = this.#batchFromInputs(inputs);
    const callSite = new Error();
    let r;
    try {
      r = await this.nativeModel.forwardAsync(batch);
    } catch (e) {
      throw fromNative(e, callSite);
    }
    const { width, perStep } = { width: this.nativeModel.outputSize, perStep: this.nativeModel.perStep };
    return { output: new Tensor(r.output, perStep ? [batch.batch, batch.seqLen, width] : [batch.batch, width]) };
  }

  /** Synchronous run (blocks the event loop for the batch's compute). */
  runSync(inputs: Record<string, Tensor>): Record<string, Tensor> {
    const batch = this.#batchFromInputs(inputs);
    let r;
    try {
      r = this.nativeModel.forward(batch);
    } catch (e) {
      throw fromNative(e);
    }
    const width = this.nativeModel.outputSize;
    return { output: new Tensor(r.output, this.nativeModel.perStep ? [batch.batch, batch.seqLen, width] : [batch.batch, width]) };
  }

  #batchFromInputs(inputs: Record<string, Tensor>): NativeModelBatch {
    if (!isPlainObject(inputs)) throw invalidArg('inputs', `an object of named tensors ({ ${this.inputNames.join(', ')} })`, inputs);
    for (const k of Object.keys(inputs))
      if (!this.inputNames.includes(k)) throw invalidArg(`inputs.${k}`, `one of ${this.inputNames.join(', ')}`, k);
    const name = this.inputNames[0] as string;
    const x = inputs[name];
    if (!Tensor.isTensor(x)) throw invalidArg(`inputs.${name}`, 'a Tensor', x);
    const ids = this.description.input.type === 'ids';
    if (ids && !(x.data instanceof Int32Array)) throw invalidArg('inputs.ids', 'an Int32 Tensor [B, T] of token ids', x);
    if (!ids && x.data instanceof Int32Array) throw invalidArg('inputs.features', `a ${this.dtype} Tensor [B, T, F]`, x);
    const rank = ids ? 2 : 3;
    if (x.shape.length !== rank) throw invalidArg(`inputs.${name}`, `a rank-${rank} tensor`, x.shape);
    const [B, T] = x.shape as [number, number];
    if (B < 1 || T < 1) throw invalidArg(`inputs.${name}`, 'a non-empty batch', x.shape);
    const lengths = inputs.lengths;
    if (lengths !== undefined && !(Tensor.isTensor(lengths) && lengths.data instanceof Int32Array && lengths.shape.length === 1 && lengths.shape[0] === B))
      throw invalidArg('inputs.lengths', `an Int32 Tensor of shape [${B}]`, lengths);
    const b: NativeModelBatch = { batch: B, seqLen: T, lengths: lengths ? (lengths.data as Int32Array) : null };
    if (ids) b.ids = x.data as Int32Array;
    else b.features = x.data as Float32Array;
    return b;
  }

  /**
   * Classifies texts: [{ label, score }] per text, score = the top class probability. A top
   * probability below the out-of-scope threshold (options.oosThreshold, else the model's) gives the
   * oos label, with score = 1 − top. Models with an oos class also answer it when it wins.
   */
  override async classify(texts: string[] | string, options: ClassifyOptions = {}): Promise<Classification[]> {
    const list = typeof texts === 'string' ? [texts] : texts;
    if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) throw invalidArg('texts', 'a string or an array of strings', texts);
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object { oosThreshold? }', options);
    const thr = options.oosThreshold;
    if (thr !== undefined && (typeof thr !== 'number' || !(thr >= 0 && thr <= 1))) throw invalidArg('options.oosThreshold', 'a number in [0, 1]', thr);
    const tok = this.tokenizer;
    const labels = this.description.labels;
    if (tok === undefined || labels === undefined)
      throw new InvalidArgumentError('This model is not a text classifier (it has no tokenizer and no labels)', {
        param: 'model',
        expected: 'a classifier model',
        received: 'a model without tokenizer/labels',
      });
    const probs = await this.probabilities(list);
    const K = labels.length;
    const out: Classification[] = [];
    for (let i = 0; i < list.length; i++) {
      let best = 0;
      for (let j = 1; j < K; j++) if ((probs[i * K + j] as number) > (probs[i * K + best] as number)) best = j;
      const score = probs[i * K + best] as number;
      const oos = this.description.oos;
      const threshold = thr ?? oos?.threshold ?? 0;
      const oosLabel = oos?.label ?? 'oos';
      if ((oos !== undefined || thr !== undefined) && score < threshold) out.push({ label: oosLabel, score: 1 - score });
      else out.push({ label: labels[best] as string, score });
    }
    return out;
  }

  /** @internal Class probabilities [N * K] of texts (batched). */
  async probabilities(texts: readonly string[]): Promise<Float64Array> {
    const tok = this.tokenizer as Tokenizer;
    const K = this.nativeModel.outputSize;
    const out = new Float64Array(texts.length * K);
    const chunk = 256;
    for (let s = 0; s < texts.length; s += chunk) {
      const part = texts.slice(s, s + chunk);
      const enc = tok.encodeBatch(part);
      const callSite = new Error();
      let r;
      try {
        r = await this.nativeModel.forwardAsync({ batch: part.length, seqLen: enc.shape[1], ids: enc.ids, lengths: enc.lengths });
      } catch (e) {
        throw fromNative(e, callSite);
      }
      const o = r.output;
      for (let i = 0; i < part.length; i++) {
        const row = o.subarray(i * K, (i + 1) * K);
        if (this.description.outputs === 'probabilities') {
          for (let j = 0; j < K; j++) out[(s + i) * K + j] = row[j] as number;
        } else {
          let mx = -Infinity;
          for (let j = 0; j < K; j++) mx = Math.max(mx, row[j] as number);
          let sum = 0;
          for (let j = 0; j < K; j++) sum += Math.exp((row[j] as number) - mx);
          for (let j = 0; j < K; j++) out[(s + i) * K + j] = Math.exp((row[j] as number) - mx) / sum;
        }
      }
    }
    return out;
  }

  /** A copy of the description with `patch` applied (labels, oos, training notes). */
  withDescription(patch: Partial<Pick<ModelDescription, 'labels' | 'oos' | 'training' | 'tokenizer' | 'features'>>): void {
    const next = checkDescription({ ...this.description, ...patch });
    (this as { description: Readonly<ModelDescription> }).description = next;
    if (patch.tokenizer !== undefined) (this as { tokenizer: Tokenizer | undefined }).tokenizer = tokenizerFromJSON(patch.tokenizer);
  }

  /** @internal The file's tensors and metadata; `extra` tensors are added (checkpoints). */
  serialize(extra?: Map<string, Tensor>, extraMeta?: Record<string, string>): Uint8Array {
    const tensors = new Map<string, Tensor>(this.stateDict());
    if (extra) for (const [k, v] of extra) tensors.set(k, v);
    const meta: Record<string, string> = { format: 'rnnx', rnnx: JSON.stringify(this.description), ...(extraMeta ?? {}) };
    return serializeSafetensors(tensors as unknown as SerializableTensors, meta);
  }

  /** Writes the model atomically (temporary file, fsync, rename). */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArg('path', 'a file path', path);
    await writeFileAtomic(path, this.serialize());
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.native?.dispose();
    this.native = undefined;
  }

  get disposed(): boolean {
    return this.#disposed;
  }
}

function splitName(n: string): [string, string] {
  const i = n.indexOf('.');
  return i < 0 ? [n, ''] : [n.slice(0, i), n.slice(i + 1)];
}

/** Parameter count of a checked description (the same rules as the native model). */
export function countParams(d: ModelDescription): number {
  let n = 0;
  let width = d.input.type === 'features' ? d.input.size : 0;
  for (const l of d.layers) {
    if (l.type === 'embedding') {
      n += l.num_embeddings * l.embedding_dim;
      width = l.embedding_dim;
    } else if (l.type === 'lstm' || l.type === 'gru' || l.type === 'rnn') {
      const G = l.type === 'lstm' ? 4 : l.type === 'gru' ? 3 : 1;
      const H = l.hidden_size;
      const P = l.proj_size ?? 0;
      const R = P > 0 ? P : H;
      const D = l.bidirectional ? 2 : 1;
      for (let k = 0; k < (l.num_layers ?? 1); k++) {
        const per = G * H * width + G * H * R + ((l.bias ?? true) ? 2 * G * H : 0) + (P > 0 ? P * H : 0);
        n += D * per;
        width = D * R;
      }
    } else if (l.type === 'pool') {
      if (l.mode === 'meanmax') width *= 2;
    } else if (l.type === 'dense') {
      n += l.out_features * l.in_features + ((l.bias ?? true) ? l.out_features : 0);
      width = l.out_features;
    }
  }
  return n;
}
