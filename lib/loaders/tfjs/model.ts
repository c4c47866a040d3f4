/**
 * A loaded tfjs / Keras layers model: the graph's applications in dependency order, each an
 * {@link Op} built once at load. `run` takes the model's inputs by input-layer name and returns
 * its outputs by output-layer name. Calls are serialised (the native recurrent layers run one
 * call at a time).
 */
import { writeFileAtomic } from '../../io/atomicWrite.js';
import { InvalidArgumentError, invalidArg, shapeError } from '../../errors.js';
import { Model } from '../../model/Model.js';
import { Tensor } from '../../tensor.js';
import { isPlainObject } from '../../validate.js';
import type { Op, Sym, Val } from './ops.js';
import type { TensorRef } from './topology.js';
import type { TfjsWeight } from './weights.js';
import { basename, dirname, join } from 'node:path';
import { stat } from 'node:fs/promises';

export interface TfjsProgram {
  inputs: { name: string; sym: Sym }[];
  outputs: { name: string; ref: TensorRef }[];
  steps: { layer: string; node: number; op: Op; inputs: TensorRef[] }[];
  /** model.json as read (for save), and the weights in manifest order. */
  json: Record<string, unknown>;
  weights: TfjsWeight[];
}

const key = (layer: string, node: number) => `${node}\u0000${layer}`;

export class TfjsModel extends Model {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** @internal */
  private readonly program: TfjsProgram;
  /** @internal */
  private queue: Promise<unknown> = Promise.resolve();
  /** @internal */
  private disposed = false;

  /** @internal */
  constructor(program: TfjsProgram) {
    super();
    this.program = program;
    this.inputNames = Object.freeze(program.inputs.map((i) => i.name));
    this.outputNames = Object.freeze(program.outputs.map((o) => o.name));
  }

  /** The declared shape (null = any) and dtype of each input. */
  get inputSpecs(): Record<string, { shape: (number | null)[]; dtype: 'float32' | 'int32' }> {
    const out: Record<string, { shape: (number | null)[]; dtype: 'float32' | 'int32' }> = {};
    for (const i of this.program.inputs) out[i.name] = { shape: i.sym.shape.slice(), dtype: i.sym.dtype };
    return out;
  }

  run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const p = this.queue.then(() => this.exec(inputs));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private toVal(name: string, sym: Sym, t: unknown): Val {
    const param = `inputs.${name}`;
    if (!Tensor.isTensor(t)) throw invalidArg(param, `a Tensor of shape [${sym.shape.map((d) => d ?? '?').join(', ')}]`, t);
    const s = t.shape;
    if (s.length !== sym.shape.length || sym.shape.some((d, i) => d !== null && i > 0 && d !== s[i]))
      throw shapeError(param, `[${sym.shape.map((d) => d ?? '?').join(', ')}]`, s);
    if (s.some((d) => d < 1)) throw shapeError(param, 'a shape without zero dimensions', s);
    const src = t.data;
    let data: Float32Array | Int32Array;
    if (sym.dtype === 'int32') {
      if (src instanceof Int32Array) data = src;
      else {
        data = new Int32Array(src.length);
        for (let i = 0; i < src.length; i++) {
          const v = src[i] as number;
          if (!Number.isInteger(v) || Math.abs(v) > 2 ** 31 - 1) throw invalidArg(param, 'integer token ids (an Int32 Tensor)', `a value ${v}`);
          data[i] = v;
        }
      }
    } else if (src instanceof Float32Array) data = src;
    else data = Float32Array.from(src);
    return { data, shape: s.slice(), mask: null };
  }

  private async exec(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (this.disposed) throw new InvalidArgumentError('This model is disposed; load it again', { param: 'model', expected: 'a live model', received: 'a disposed model' });
    if (!isPlainObject(inputs)) throw invalidArg('inputs', `an object of named tensors (${this.inputNames.join(', ')})`, inputs);
    for (const k of Object.keys(inputs)) if (!this.inputNames.includes(k)) throw invalidArg(`inputs.${k}`, `one of the model's inputs (${this.inputNames.join(', ')})`, k);
    const values = new Map<string, Val[]>();
    const given = new Set<unknown>();
    for (const i of this.program.inputs) {
      const t = inputs[i.name];
      if (t === undefined) throw invalidArg(`inputs.${i.name}`, 'a Tensor (every input is required)', t);
      const v = this.toVal(i.name, i.sym, t);
      given.add(v.data);
      values.set(key(i.name, 0), [v]);
    }
    const get = (r: TensorRef): Val => {
      const v = values.get(key(r.layer, r.node))?.[r.tensor];
      if (!v) throw new InvalidArgumentError(`internal: tensor ${r.layer}[${r.node}][${r.tensor}] missing`, {});
      return v;
    };
    for (const s of this.program.steps) {
      const outs = await s.op.run(s.inputs.map(get));
      values.set(key(s.layer, s.node), outs);
    }
    const result: Record<string, Tensor> = {};
    for (const o of this.program.outputs) {
      const v = get(o.ref);
      const data = given.has(v.data) ? v.data.slice() : v.data;
      result[o.name] = new Tensor(data, v.shape);
    }
    return result;
  }

  /**
   * Writes the model in the tfjs layers format: `path` is the model.json to write (or a folder,
   * which gets model.json); the weights go to a float32 `weights.bin` beside it. Each file is
   * written atomically, the weights first.
   */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArg('path', 'a model.json path or a folder', path);
    let jsonPath = path;
    try {
      if ((await stat(path)).isDirectory()) jsonPath = join(path, 'model.json');
    } catch {
      /* a new file */
    }
    if (!jsonPath.endsWith('.json')) throw invalidArg('path', 'a path ending in .json (tfjs model.json) or an existing folder', path);
    const stem = basename(jsonPath, '.json');
    const binName = stem === 'model' ? 'weights.bin' : `${stem}.weights.bin`;
    const ws = this.program.weights;
    const total = ws.reduce((n, w) => n + w.data.length, 0);
    const bin = new Float32Array(total);
    let off = 0;
    for (const w of ws) {
      bin.set(w.data, off);
      off += w.data.length;
    }
    const json = {
      ...this.program.json,
      weightsManifest: [{ paths: [binName], weights: ws.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
    };
    await writeFileAtomic(join(dirname(jsonPath), binName), new Uint8Array(bin.buffer));
    await writeFileAtomic(jsonPath, JSON.stringify(json));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.program.steps) s.op.dispose();
  }
}
