/**
 * ONNX loader: decodes a ModelProto with protobufjs (schema in ./onnx/proto.ts), checks the graph
 * and runs it: LSTM / GRU / RNN nodes on rnnx's native layers (built once, at load), the ops
 * around them in TypeScript. Dynamic batch and time axes. Every problem with the file is a
 * ModelFormatError naming the file and the reason.
 */
import { readFile } from 'node:fs/promises';
import { DisposedError, ModelFormatError, RnnxError, dtypeError, invalidArg, shapeError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { Model } from '../model/Model.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { isPlainObject } from '../validate.js';
import { decodeModel } from './onnx/proto.js';
import { type Graph, type GraphInput, buildGraph } from './onnx/graph.js';
import { type Val, GraphError } from './onnx/values.js';

/** Largest ONNX file read (weights inline). */
export const MAX_ONNX_BYTES = 2 ** 31 - 1;

/** A loaded ONNX graph. Inputs and outputs keep their ONNX names; int64 tensors are given and returned as Int32. */
export class OnnxModel extends Model {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** @internal */
  private readonly graph: Graph;
  /** @internal */
  private readonly bytes: Uint8Array;
  /** @internal */
  private disposed = false;

  /** @internal */
  constructor(
    readonly file: string,
    graph: Graph,
    bytes: Uint8Array,
  ) {
    super();
    this.graph = graph;
    this.bytes = bytes;
    this.inputNames = Object.freeze(graph.inputs.map((i) => i.name));
    this.outputNames = Object.freeze([...graph.outputs]);
  }

  /** The ONNX element type of an input: 'float32', 'float64', 'int64', 'int32' or 'bool' (int64, int32 and bool are given as Int32 tensors). */
  inputDType(name: string): GraphInput['dtype'] | undefined {
    return this.graph.inputs.find((i) => i.name === name)?.dtype;
  }

  private toVal(inp: GraphInput, t: unknown): Val {
    const param = `inputs.${inp.name}`;
    if (!Tensor.isTensor(t)) throw invalidArg(param, 'a Tensor', t);
    const data = t.data;
    let v: Val;
    switch (inp.dtype) {
      case 'float32':
        if (!(data instanceof Float32Array)) throw dtypeError(param, 'Float32Array data (ONNX float)', data);
        v = { dtype: 'float32', shape: [...t.shape], data };
        break;
      case 'float64':
        if (!(data instanceof Float64Array)) throw dtypeError(param, 'Float64Array data (ONNX double)', data);
        v = { dtype: 'float64', shape: [...t.shape], data };
        break;
      case 'int64':
        if (!(data instanceof Int32Array)) throw dtypeError(param, 'Int32Array data (ONNX int64)', data);
        v = { dtype: 'int64', shape: [...t.shape], data: Float64Array.from(data) };
        break;
      case 'int32':
        if (!(data instanceof Int32Array)) throw dtypeError(param, 'Int32Array data (ONNX int32)', data);
        v = { dtype: 'int32', shape: [...t.shape], data };
        break;
      default:
        if (!(data instanceof Int32Array)) throw dtypeError(param, 'Int32Array data of 0/1 (ONNX bool)', data);
        v = { dtype: 'bool', shape: [...t.shape], data: Uint8Array.from(data, (x) => (x !== 0 ? 1 : 0)) };
    }
    const decl = inp.shape;
    if (decl !== null) {
      const desc = `[${decl.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
      if (decl.length !== t.shape.length) throw shapeError(param, desc, t.shape);
      decl.forEach((d, i) => {
        if (typeof d === 'number' && t.shape[i] !== d) throw shapeError(param, desc, t.shape);
      });
    }
    return v;
  }

  private static toTensor(v: Val, name: string, file: string): Tensor {
    switch (v.dtype) {
      case 'float32':
      case 'float64':
        return new Tensor(v.data as Float32Array, v.shape);
      case 'int32':
        return new Tensor(v.data as Int32Array, v.shape);
      default: {
        const out = new Int32Array(v.data.length);
        for (let i = 0; i < out.length; i++) {
          const x = v.data[i] as number;
          if (!(x >= -2147483648 && x <= 2147483647))
            throw new ModelFormatError(file, `output "${name}" holds ${x}, outside the int32 range rnnx returns`);
          out[i] = x;
        }
        return new Tensor(out, v.shape);
      }
    }
  }

  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (this.disposed) throw new DisposedError('This ONNX model is disposed; load it again');
    if (!isPlainObject(inputs)) throw invalidArg('inputs', `an object of named tensors (${this.inputNames.join(', ')})`, inputs);
    for (const k of Object.keys(inputs))
      if (!this.inputNames.includes(k)) throw invalidArg(`inputs.${k}`, `one of ${this.inputNames.join(', ')}`, k);
    const env = new Map<string, Val>(this.graph.consts);
    for (const inp of this.graph.inputs) {
      const t = (inputs as Record<string, unknown>)[inp.name];
      if (t === undefined) throw invalidArg(`inputs.${inp.name}`, 'a Tensor', t);
      env.set(inp.name, this.toVal(inp, t));
    }
    const g = this.graph;
    for (let k = 0; k < g.steps.length; k++) {
      const step = g.steps[k]!;
      const args = step.node.input.map((n) => (n === '' ? null : (env.get(n) ?? null)));
      let outs: Val[];
      try {
        outs = await step.kernel(args);
      } catch (e) {
        if (e instanceof GraphError) throw new ModelFormatError(this.file, `${step.label}: ${e.message}`, { cause: e });
        if (e instanceof RnnxError) throw e;
        throw new ModelFormatError(this.file, `${step.label} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      step.node.output.forEach((name, i) => {
        if (name === '') return;
        const v = outs[i];
        if (v === undefined)
          throw new ModelFormatError(this.file, `${step.label} has no output ${i} ("${name}"); it produces ${outs.length}`);
        env.set(name, v);
      });
      for (const f of g.frees[k]!) env.delete(f);
    }
    const result: Record<string, Tensor> = {};
    for (const name of g.outputs) {
      const v = env.get(name);
      if (v === undefined) throw new ModelFormatError(this.file, `graph output "${name}" was not computed`);
      Object.defineProperty(result, name, {
        value: OnnxModel.toTensor(v, name, this.file),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return result;
  }

  /** Writes the original ONNX bytes (atomically). */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArg('path', 'a file path', path);
    await writeFileAtomic(path, this.bytes);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.graph.layers) l.dispose();
  }
}

/** Parses ONNX bytes into a model; `file` names the source in errors. */
export function parseOnnx(bytes: Uint8Array, file = '<buffer>'): OnnxModel {
  const msg = decodeModel(bytes, file);
  let graph: Graph;
  try {
    graph = buildGraph(msg);
  } catch (e) {
    if (e instanceof GraphError) throw new ModelFormatError(file, e.message, { cause: e });
    if (e instanceof ModelFormatError) throw e;
    if (e instanceof RangeError)
      throw new ModelFormatError(file, `the graph is too large or too deep to load (${e.message})`, { cause: e });
    throw e;
  }
  return new OnnxModel(file, graph, bytes);
}

/** Loads the ONNX model at `file`. */
export async function loadOnnx(file: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new ModelFormatError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  if (bytes.length > MAX_ONNX_BYTES) throw new ModelFormatError(file, `the file is larger than ${MAX_ONNX_BYTES} bytes`);
  return parseOnnx(bytes, file);
}
