/**
 * A loaded model: named inputs → named outputs (`run`), single input → single output (`predict`),
 * and, for classifiers, `classify`. This version loads recurrent-layer models stored as
 * safetensors with a PyTorch layer description (see {@link loadModel}); the rnnx model format,
 * ONNX and TensorFlow.js/Keras come with the loaders (they share this interface).
 */
import { InvalidArgumentError, invalidArg } from '../errors.js';
import { Tensor } from '../tensor.js';
import { serializeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { Recurrent } from '../layers/Recurrent.js';
import { isPlainObject } from '../validate.js';

export interface Classification {
  label: string;
  score: number;
}

export interface ClassifyOptions {
  /**
   * Out-of-scope threshold: a top class probability below it answers the model's oos label.
   * Default: the model's own (its description's `oos.threshold`; 0 = none).
   */
  oosThreshold?: number;
}

export abstract class Model {
  /** Names of the inputs `run` takes. */
  abstract readonly inputNames: readonly string[];
  /** Names of the outputs `run` returns. */
  abstract readonly outputNames: readonly string[];

  /** Runs the model on named inputs (off the event loop); returns every output by name. */
  abstract run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;

  /** Single input → the first output. */
  async predict(x: Tensor): Promise<Tensor> {
    const name = this.inputNames[0] as string;
    const out = await this.run({ [name]: x });
    return out[this.outputNames[0] as string] as Tensor;
  }

  /** Classifiers only: text → [{ label, score }]. */
  async classify(texts: string[] | string, options?: ClassifyOptions): Promise<Classification[]> {
    void texts;
    void options;
    throw new InvalidArgumentError('This model is not a text classifier (it has no tokenizer and no labels)', {
      param: 'model',
      expected: 'a classifier model',
      received: 'a recurrent layer model',
    });
  }

  /** Writes the model to `path` atomically (temporary file, then rename). */
  abstract save(path: string): Promise<void>;

  abstract dispose(): void;

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A PyTorch nn.RNN / nn.LSTM / nn.GRU with its configuration: inputs `input` ([T, B, I], or
 * [B, T, I] when batch_first), optional `h0`, `c0`, `lengths` (Int32 [B]); outputs `output`,
 * `h_n` and, for an LSTM, `c_n`.
 */
export class RecurrentModel extends Model {
  readonly inputNames = Object.freeze(['input', 'h0', 'c0', 'lengths']);
  readonly outputNames: readonly string[];
  /** @internal */
  private readonly metadata: Record<string, string>;

  /** @internal */
  constructor(
    readonly layer: Recurrent,
    metadata: Record<string, string>,
  ) {
    super();
    this.metadata = { ...metadata };
    this.outputNames = Object.freeze(layer.config.cell === 'lstm' ? ['output', 'h_n', 'c_n'] : ['output', 'h_n']);
  }

  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (!isPlainObject(inputs)) throw invalidArg('inputs', "an object of named tensors ({ input, h0?, c0?, lengths? })", inputs);
    for (const k of Object.keys(inputs))
      if (!this.inputNames.includes(k)) throw invalidArg(`inputs.${k}`, `one of ${this.inputNames.join(', ')}`, k);
    const x = inputs.input;
    if (x === undefined) throw invalidArg('inputs.input', 'a Tensor', x);
    const lengths = inputs.lengths;
    if (lengths !== undefined && !(Tensor.isTensor(lengths) && lengths.data instanceof Int32Array))
      throw invalidArg('inputs.lengths', 'an Int32 Tensor of shape [B]', lengths);
    const r = await this.layer.forwardAsync(x, {
      h0: inputs.h0,
      c0: inputs.c0,
      lengths: lengths ? (lengths.data as Int32Array) : undefined,
    });
    const out: Record<string, Tensor> = { output: r.output, h_n: r.h };
    if (r.c) out.c_n = r.c;
    return out;
  }

  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArg('path', 'a file path', path);
    const sd = this.layer.stateDict();
    const cfg = this.layer.config;
    const meta: Record<string, string> = {
      ...this.metadata,
      cell: JSON.stringify(cfg.cell),
      input_size: JSON.stringify(cfg.inputSize),
      hidden_size: JSON.stringify(cfg.hiddenSize),
      proj_size: JSON.stringify(cfg.projSize),
      num_layers: JSON.stringify(cfg.numLayers),
      bidirectional: JSON.stringify(cfg.bidirectional),
      batch_first: JSON.stringify(cfg.batchFirst),
      bias: JSON.stringify(cfg.bias),
    };
    if (cfg.cell === 'rnn') meta.nonlinearity = JSON.stringify(cfg.activations[0]?.name === 'relu' ? 'relu' : 'tanh');
    await writeFileAtomic(path, serializeSafetensors(sd, meta));
  }

  dispose(): void {
    this.layer.dispose();
  }
}
