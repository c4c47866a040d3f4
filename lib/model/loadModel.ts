/**
 * loadModel(path): picks the format from the file's content, never from its name alone.
 * This version reads safetensors files that describe a PyTorch recurrent layer in their
 * `__metadata__` (the layout of shared/fixtures/layers: cell, input_size, hidden_size, proj_size,
 * num_layers, bidirectional, batch_first, bias, nonlinearity; weights under PyTorch's names).
 * ONNX graphs go to lib/loaders/onnx.ts, TensorFlow.js/Keras layers models (model.json or its
 * folder) to lib/loaders/tfjs.ts.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFormatError, invalidArg } from '../errors.js';
import { Tensor } from '../tensor.js';
import { entryToFloat32, readSafetensors } from '../io/safetensors.js';
import { LSTM } from '../layers/LSTM.js';
import { GRU } from '../layers/GRU.js';
import { RNN } from '../layers/RNN.js';
import type { Recurrent } from '../layers/Recurrent.js';
import { Model, RecurrentModel } from './Model.js';
import { RESERVED_PREFIX, SequentialModel } from './Sequential.js';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { loadOnnx } from '../loaders/onnx.js';
import { loadTfjs } from '../loaders/tfjs.js';

type Format = 'safetensors' | 'onnx' | 'tfjs';

async function sniff(path: string): Promise<{ format: Format; file: string }> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new ModelFormatError(path, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  if (st.isDirectory()) return { format: 'tfjs', file: join(path, 'model.json') };
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new ModelFormatError(path, `cannot open the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    if (bytesRead >= 9) {
      const n = head.readBigUInt64LE(0);
      if (n > 1n && n < BigInt(st.size) && head[8] === 0x7b /* { */) return { format: 'safetensors', file: path };
    }
    const first = head.subarray(0, bytesRead).toString('utf8').trimStart();
    if (first.startsWith('{')) return { format: 'tfjs', file: path };
    // ONNX ModelProto: a protobuf message whose first field is usually ir_version (tag 0x08)
    if (bytesRead > 0 && head[0] === 0x08) return { format: 'onnx', file: path };
    throw new ModelFormatError(path, 'not a safetensors, ONNX or TensorFlow.js model file');
  } finally {
    await fh.close();
  }
}

function metaValue(meta: Record<string, string>, key: string): unknown {
  const raw = meta[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export interface LoadOptions {
  /**
   * For a PyTorch state dict saved as safetensors (no rnnx metadata): the architecture, as an rnnx
   * model description object (docs/model-format.md) or the path of a JSON file holding one.
   * Default: `NAME.json` next to `NAME.safetensors`, when it exists.
   */
  architecture?: string | Record<string, unknown>;
}

/**
 * Loads a model from `path` (a file, or a tfjs model folder): an rnnx model (`.safetensors` with
 * its description), a PyTorch state dict (`.safetensors`) with an architecture JSON, a recurrent
 * layer file (shared/fixtures/layers), ONNX, or TensorFlow.js / Keras. The format is read from
 * the content.
 */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  if (typeof path !== 'string' || path.length === 0) throw invalidArg('path', 'a path to a model file', path);
  if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object { architecture? }', options);
  const { format, file } = await sniff(path);
  if (format === 'onnx') return loadOnnx(file);
  if (format === 'tfjs') return loadTfjs(file);
  const f = await readSafetensors(file);
  const meta = f.metadata;
  const tensorsOf = (): Map<string, Tensor> => {
    const m = new Map<string, Tensor>();
    for (const [k, e] of f.tensors) {
      if (k.startsWith(RESERVED_PREFIX)) continue; // training state (checkpoints): not converted
      m.set(k, new Tensor(entryToFloat32(e), e.shape));
    }
    return m;
  };
  if (meta.format === 'rnnx') {
    let desc: unknown;
    try {
      desc = JSON.parse(meta.rnnx ?? '');
    } catch {
      throw new ModelFormatError(file, '__metadata__.rnnx is not valid JSON');
    }
    return SequentialModel.fromTensors(desc, tensorsOf(), { file });
  }
  const cell = metaValue(meta, 'cell');
  if (cell === undefined) {
    // a PyTorch state dict: the architecture comes from options or a sidecar JSON
    let arch: unknown = options.architecture;
    let archFile = file;
    if (typeof arch === 'string' || arch === undefined) {
      const p = typeof arch === 'string' ? arch : file.replace(/\.safetensors$/i, '') + '.json';
      if (!existsSync(p)) {
        throw new ModelFormatError(
          file,
          'safetensors without rnnx metadata: for a PyTorch state dict, give its architecture (options.architecture, or NAME.json next to NAME.safetensors; see docs/model-format.md)',
        );
      }
      archFile = p;
      try {
        arch = JSON.parse(await readFile(p, 'utf8'));
      } catch (e) {
        throw new ModelFormatError(p, `architecture JSON: ${(e as Error).message}`, { cause: e });
      }
    }
    return SequentialModel.fromTensors(arch, tensorsOf(), { file: archFile === file ? file : `${file} (architecture ${archFile})` });
  }
  if (cell !== 'lstm' && cell !== 'gru' && cell !== 'rnn')
    throw new ModelFormatError(file, '__metadata__ does not describe a recurrent layer (cell must be "rnn", "lstm" or "gru")');
  const int = (k: string, dflt?: number): number => {
    const v = metaValue(meta, k);
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 24)
      throw new ModelFormatError(file, `__metadata__.${k} must be an integer in 0..2^24`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = metaValue(meta, k);
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw new ModelFormatError(file, `__metadata__.${k} must be true or false`);
    return v;
  };
  const opts = {
    inputSize: int('input_size'),
    hiddenSize: int('hidden_size'),
    numLayers: int('num_layers', 1),
    bidirectional: bool('bidirectional', false),
    batchFirst: bool('batch_first', false),
    bias: bool('bias', true),
  };
  const sd: Record<string, Tensor> = {};
  for (const [k, e] of f.tensors) if (/^(weight|bias)_(ih|hh|hr)_l\d+(_reverse)?$/.test(k)) sd[k] = new Tensor(entryToFloat32(e), e.shape);
  let layer: Recurrent;
  const projSize = cell === 'lstm' ? int('proj_size', 0) : 0;
  try {
    if (cell === 'lstm') layer = LSTM.fromStateDict(sd, { ...opts, projSize });
    else if (cell === 'gru') layer = GRU.fromStateDict(sd, opts);
    else {
      const nl = metaValue(meta, 'nonlinearity');
      layer = RNN.fromStateDict(sd, { ...opts, nonlinearity: nl === 'relu' ? 'relu' : 'tanh' });
    }
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(file, (e as Error).message, { cause: e });
  }
  return new RecurrentModel(layer, meta);
}
