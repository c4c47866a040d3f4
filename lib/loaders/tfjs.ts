/**
 * TensorFlow.js / Keras layers-model loader: model.json (`modelTopology` + `weightsManifest`)
 * and its weight shards, Sequential and functional models. Supported layers: InputLayer,
 * Embedding (mask_zero), Masking, LSTM, GRU (reset_after true and false), SimpleRNN,
 * Bidirectional (merge modes concat, sum, mul, ave, null), Dense, TimeDistributed(Dense),
 * Activation, Dropout (identity), Flatten and the merge layers. Recurrent layers run on rnnx's
 * native LSTM / GRU / RNN, built once here. Every file is untrusted: anything malformed is a
 * ModelFormatError naming the file and the reason.
 */
import { readFile, stat } from 'node:fs/promises';
import { ModelFormatError, RnnxError } from '../errors.js';
import { isPlainObject } from '../validate.js';
import type { Model } from '../model/Model.js';
import { type Graph, type TensorRef, batchShapeOf, dtypeOf, parseTopology } from './tfjs/topology.js';
import { type TfjsWeight, readTfjsWeights } from './tfjs/weights.js';
import { type BuildContext, type Op, type Sym, buildOp, weightCount } from './tfjs/ops.js';
import { TfjsModel, type TfjsProgram } from './tfjs/model.js';

export { TfjsModel } from './tfjs/model.js';

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Assigns each weight to its layer: by a path segment naming the layer, else by position. */
function assignWeights(file: string, g: Graph, weights: TfjsWeight[]): Map<string, TfjsWeight[]> {
  const byName = new Map<string, TfjsWeight[]>();
  let named = true;
  for (const w of weights) {
    const seg = w.name.split('/').find((s) => g.layers.has(s));
    if (seg === undefined) {
      named = false;
      break;
    }
    let l = byName.get(seg);
    if (!l) byName.set(seg, (l = []));
    l.push(w);
  }
  if (named) {
    for (const n of g.order) {
      const l = g.layers.get(n)!;
      if (weightCount(l.className, l.config) > 0 && !byName.has(n)) {
        named = false;
        break;
      }
    }
  }
  if (named) return byName;
  // positional: layers in file order, each taking as many weights as its class stores
  const out = new Map<string, TfjsWeight[]>();
  let i = 0;
  let need = 0;
  for (const n of g.order) {
    const l = g.layers.get(n)!;
    const c = weightCount(l.className, l.config);
    need += c;
    if (c > 0) out.set(n, weights.slice(i, i + c));
    i += c;
  }
  if (need !== weights.length)
    throw new ModelFormatError(file, `weightsManifest lists ${weights.length} weights, but the layers of the model store ${need} (and the names do not match the layer names)`);
  return out;
}

function inputSym(file: string, g: Graph, name: string): Sym {
  const l = g.layers.get(name)!;
  const shape = batchShapeOf(file, l.config, `InputLayer "${name}"`);
  // ids go to an Embedding: int32
  let feedsEmbedding = false;
  for (const other of g.layers.values())
    if (other.className === 'Embedding' && other.nodes.some((refs) => refs.some((r) => r.layer === name))) feedsEmbedding = true;
  const dt = dtypeOf(l.config);
  const dtype: Sym['dtype'] = dt === 'int32' || dt === 'int64' || feedsEmbedding ? 'int32' : 'float32';
  return { shape: shape ?? (dtype === 'int32' ? [null, null] : [null, null, null]), dtype };
}

function outputNames(refs: TensorRef[]): string[] {
  const count = new Map<string, number>();
  for (const r of refs) count.set(r.layer, (count.get(r.layer) ?? 0) + 1);
  const used = new Set<string>();
  return refs.map((r) => {
    let n = (count.get(r.layer) as number) > 1 && r.tensor > 0 ? `${r.layer}_${r.tensor}` : r.layer;
    for (let k = 1; used.has(n); k++) n = `${r.layer}_${r.tensor}_${k}`;
    used.add(n);
    return n;
  });
}

async function load(file: string): Promise<TfjsModel> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw new ModelFormatError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  if (!st.isFile()) throw new ModelFormatError(file, 'is not a file (expected a tfjs model.json)');
  if (st.size > MAX_JSON_BYTES) throw new ModelFormatError(file, `model.json is ${st.size} bytes (over 64 MiB)`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ModelFormatError(file, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isPlainObject(json)) throw new ModelFormatError(file, 'model.json must hold a JSON object');
  if (json.format !== undefined && json.format !== 'layers-model')
    throw new ModelFormatError(file, `unsupported tfjs format ${JSON.stringify(json.format)} (only "layers-model"; graph models are not supported)`);
  if (json.modelTopology === undefined) throw new ModelFormatError(file, 'model.json has no modelTopology');
  const g = parseTopology(file, json.modelTopology);
  const weights = await readTfjsWeights(file, json.weightsManifest);
  const assigned = assignWeights(file, g, weights);
  const version = g.kerasVersion;
  const ctx: BuildContext = {
    file,
    tfjs: version.startsWith('tfjs') || (typeof json.generatedBy === 'string' && json.generatedBy.startsWith('TensorFlow.js')),
    keras3: /^3\./.test(version),
  };

  const ops = new Map<string, Op>();
  try {
    for (const name of g.order) {
      const l = g.layers.get(name)!;
      if (l.className === 'InputLayer') continue;
      ops.set(name, buildOp(l.className, name, l.config, assigned.get(name) ?? [], ctx));
    }
    // shapes, in dependency order
    const syms = new Map<string, Sym[]>();
    const k = (layer: string, node: number) => `${node}\u0000${layer}`;
    const inputs: TfjsProgram['inputs'] = [];
    for (const r of g.inputs) {
      const sym = inputSym(file, g, r.layer);
      inputs.push({ name: r.layer, sym });
      syms.set(k(r.layer, 0), [sym]);
    }
    const symOf = (r: TensorRef, where: string): Sym => {
      const l = g.layers.get(r.layer)!;
      if (l.className === 'InputLayer' && !syms.has(k(r.layer, 0)))
        throw new ModelFormatError(file, `${where} uses InputLayer "${r.layer}", which is not among the model's inputs`);
      const s = syms.get(k(r.layer, r.node))?.[r.tensor];
      if (!s) throw new ModelFormatError(file, `${where} refers to output ${r.tensor} of layer "${r.layer}" node ${r.node}, which does not exist (dangling reference)`);
      return s;
    };
    const steps: TfjsProgram['steps'] = [];
    for (const a of g.schedule) {
      const l = g.layers.get(a.layer)!;
      const refs = l.nodes[a.node]!;
      const where = `layer "${a.layer}" (${l.className})`;
      const op = ops.get(a.layer)!;
      syms.set(k(a.layer, a.node), op.infer(refs.map((r) => symOf(r, where))));
      steps.push({ layer: a.layer, node: a.node, op, inputs: refs });
    }
    const outRefs = g.outputs;
    for (const r of outRefs) symOf(r, 'output_layers');
    const names = outputNames(outRefs);
    const program: TfjsProgram = {
      inputs,
      outputs: outRefs.map((ref, i) => ({ name: names[i] as string, ref })),
      steps,
      json: { ...json, weightsManifest: undefined },
      weights,
    };
    return new TfjsModel(program);
  } catch (e) {
    for (const op of ops.values()) op.dispose();
    throw e;
  }
}

/** Loads the tfjs layers model whose model.json is `file`. */
export async function loadTfjs(file: string): Promise<Model> {
  try {
    return await load(file);
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    // anything else the file provoked (an odd value deep in the JSON) is still a format error
    const msg = e instanceof RnnxError || e instanceof Error ? e.message : String(e);
    throw new ModelFormatError(file, `invalid model: ${msg}`, { cause: e });
  }
}
