/**
 * `rnnx verify` for a tfjs/Keras fixture folder: model.json, its weights, and io.json holding
 * `input` ({shape, dtype, data}, or an object of those by input name) and `expected` (likewise,
 * by output name when there are several), as tfjs (or PyTorch, `reference`) computed them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFormatError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { loadTfjs } from '../loaders/tfjs.js';
import type { Model } from '../model/Model.js';
import { isPlainObject } from '../validate.js';
import { FORWARD_TOL, type FixtureResult } from './layerFixture.js';
import { relErr } from './relErr.js';

interface Packed {
  shape: number[];
  dtype: string;
  data: number[];
}

function isPacked(v: unknown): v is Packed {
  return isPlainObject(v) && Array.isArray(v.shape) && Array.isArray(v.data);
}

function toTensor(file: string, p: Packed, what: string): Tensor {
  const n = p.shape.reduce((a: number, d: unknown) => a * (typeof d === 'number' ? d : NaN), 1);
  if (!Number.isSafeInteger(n) || n !== p.data.length) throw new ModelFormatError(file, `${what}: shape ${JSON.stringify(p.shape)} does not match ${p.data.length} values`);
  if (p.data.some((x) => typeof x !== 'number')) throw new ModelFormatError(file, `${what}: data must be numbers`);
  const data = p.dtype === 'int32' ? Int32Array.from(p.data) : Float32Array.from(p.data);
  return new Tensor(data, p.shape);
}

function byName(file: string, v: unknown, names: readonly string[], what: string): Record<string, Packed> {
  if (isPacked(v)) return { [names[0] as string]: v };
  if (!isPlainObject(v)) throw new ModelFormatError(file, `io.json "${what}" must be {shape, dtype, data} or an object of them by name`);
  const out: Record<string, Packed> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!isPacked(x)) throw new ModelFormatError(file, `io.json "${what}.${k}" must be {shape, dtype, data}`);
    out[k] = x;
  }
  return out;
}

export async function runTfjsFixture(path: string): Promise<FixtureResult> {
  const name = path.replace(/\/+$/, '').replace(/^.*\//, '');
  let model: Model | undefined;
  try {
    const ioFile = join(path, 'io.json');
    let io: unknown;
    try {
      io = JSON.parse(await readFile(ioFile, 'utf8'));
    } catch (e) {
      throw new ModelFormatError(ioFile, `cannot read io.json (${(e as Error).message})`, { cause: e });
    }
    if (!isPlainObject(io)) throw new ModelFormatError(ioFile, 'io.json must hold an object');
    model = await loadTfjs(join(path, 'model.json'));
    const ins = byName(ioFile, io.input ?? io.inputs, model.inputNames, 'input');
    const inputs: Record<string, Tensor> = {};
    for (const [k, p] of Object.entries(ins)) inputs[k] = toTensor(ioFile, p, `input ${k}`);
    const exp = byName(ioFile, io.expected, model.outputNames, 'expected');
    const out = await model.run(inputs);
    let worst = 0;
    const details: Record<string, number> = {};
    for (const [k, p] of Object.entries(exp)) {
      const got = out[k];
      if (!got) throw new ModelFormatError(ioFile, `expected output "${k}" is not an output of the model (${model.outputNames.join(', ')})`);
      const shapeOk = got.shape.length === p.shape.length && got.shape.every((d, i) => d === p.shape[i]);
      const err = shapeOk ? relErr(got.data, p.data) : Infinity;
      details[k] = err;
      worst = Math.max(worst, err);
    }
    return { fixture: name, ok: worst <= FORWARD_TOL, forward_rel_err: worst, grad_rel_err: null, details };
  } catch (e) {
    return { fixture: name, ok: false, forward_rel_err: null, grad_rel_err: null, error: (e as Error).message };
  } finally {
    model?.dispose();
  }
}
