/**
 * `modelTopology` of a layers model, normalised to one form for Sequential and functional
 * models (tfjs, Keras 2 and Keras 3 spellings): layers with their inbound nodes, the model's
 * input and output tensors, and a node order in which every node's inputs come first.
 */
import { ModelFormatError } from '../../errors.js';
import { isPlainObject } from '../../validate.js';

/** A tensor: output `tensor` of application `node` of layer `layer`. */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

export interface LayerSpec {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** One entry per application of the layer: the tensors it is applied to. */
  nodes: TensorRef[][];
}

export interface Graph {
  layers: Map<string, LayerSpec>;
  /** Layer order as written (weights are matched in this order when names do not help). */
  order: string[];
  inputs: TensorRef[];
  outputs: TensorRef[];
  /** (layer, node) applications in an order where inputs come first; InputLayers excluded. */
  schedule: { layer: string; node: number }[];
  kerasVersion: string;
}

const MAX_LAYERS = 100_000;

export function nameOf(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 1000 ? v : undefined;
}

/** The dtype of a layer config (`dtype` may be a Keras 3 DTypePolicy object). */
export function dtypeOf(cfg: Record<string, unknown>): string | undefined {
  const d = cfg.dtype;
  if (typeof d === 'string') return d;
  if (isPlainObject(d) && isPlainObject(d.config) && typeof d.config.name === 'string') return d.config.name;
  return undefined;
}

/** The declared batch input shape of a layer config, if any. */
export function batchShapeOf(file: string, cfg: Record<string, unknown>, where: string): (number | null)[] | undefined {
  const raw = cfg.batch_input_shape ?? cfg.batch_shape ?? (Array.isArray(cfg.input_shape) ? [null, ...(cfg.input_shape as unknown[])] : undefined);
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > 8)
    throw new ModelFormatError(file, `${where}: batch_input_shape must be an array of 1 to 8 dimensions`);
  return raw.map((d: unknown) => {
    if (d === null) return null;
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0 || d > 2 ** 31)
      throw new ModelFormatError(file, `${where}: batch_input_shape ${JSON.stringify(raw)} has an invalid dimension`);
    return d;
  });
}

function parseRef(file: string, v: unknown, where: string): TensorRef {
  // tfjs / Keras 2: [layerName, nodeIndex, tensorIndex, kwargs?]
  // Keras 3: {class_name: '__keras_tensor__', config: {keras_history: [name, node, tensor]}}
  let arr: unknown = v;
  if (isPlainObject(v)) {
    const cfg = v.config;
    arr = isPlainObject(cfg) ? cfg.keras_history : undefined;
  }
  if (!Array.isArray(arr) || arr.length < 1) throw new ModelFormatError(file, `${where} is not a [layer, node, tensor] reference`);
  const layer = nameOf(arr[0]);
  const node = arr.length > 1 ? arr[1] : 0;
  const tensor = arr.length > 2 ? arr[2] : 0;
  if (layer === undefined || !Number.isSafeInteger(node) || (node as number) < 0 || !Number.isSafeInteger(tensor) || (tensor as number) < 0)
    throw new ModelFormatError(file, `${where} is not a [layer, node, tensor] reference`);
  if (arr.length > 3 && isPlainObject(arr[3]) && Object.keys(arr[3]).length > 0) {
    const keys = Object.keys(arr[3]).filter((k) => k !== 'training' && k !== 'mask');
    if (keys.length > 0) throw new ModelFormatError(file, `${where} passes call arguments ${keys.join(', ')}, which rnnx does not support`);
  }
  return { layer, node: node as number, tensor: tensor as number };
}

function collectKerasTensors(v: unknown, out: unknown[], depth: number): void {
  if (depth > 4) return;
  if (isPlainObject(v) && v.class_name === '__keras_tensor__') out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectKerasTensors(x, out, depth + 1);
}

function parseInboundNodes(file: string, v: unknown, where: string): TensorRef[][] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ModelFormatError(file, `${where}.inbound_nodes must be an array`);
  if (v.length > MAX_LAYERS) throw new ModelFormatError(file, `${where}.inbound_nodes is too long`);
  return v.map((node: unknown, n: number) => {
    const w = `${where}.inbound_nodes[${n}]`;
    if (isPlainObject(node)) {
      // Keras 3: { args: [...], kwargs: {...} }
      const found: unknown[] = [];
      collectKerasTensors(node.args, found, 0);
      const kw: unknown[] = [];
      collectKerasTensors(node.kwargs, kw, 0);
      if (kw.length > 0) throw new ModelFormatError(file, `${w} passes tensors as keyword arguments (e.g. initial_state), which rnnx does not support`);
      if (found.length === 0) throw new ModelFormatError(file, `${w} has no input tensors`);
      return found.map((t, i) => parseRef(file, t, `${w}.args[${i}]`));
    }
    if (!Array.isArray(node) || node.length === 0) throw new ModelFormatError(file, `${w} must be a non-empty array of tensor references`);
    // a single reference written without the outer list
    if (typeof node[0] === 'string') return [parseRef(file, node, w)];
    return node.map((r: unknown, i: number) => parseRef(file, r, `${w}[${i}]`));
  });
}

function parseRefList(file: string, v: unknown, where: string): TensorRef[] {
  if (!Array.isArray(v) || v.length === 0) throw new ModelFormatError(file, `${where} must be a non-empty array of [layer, node, tensor]`);
  if (typeof v[0] === 'string') return [parseRef(file, v, where)];
  return v.map((r: unknown, i: number) => parseRef(file, r, `${where}[${i}]`));
}

function layerEntry(file: string, l: unknown, where: string): { className: string; name: string; config: Record<string, unknown>; raw: Record<string, unknown> } {
  if (!isPlainObject(l)) throw new ModelFormatError(file, `${where} is not an object`);
  const className = nameOf(l.class_name);
  if (className === undefined) throw new ModelFormatError(file, `${where} has no class_name`);
  const config = l.config;
  if (!isPlainObject(config)) throw new ModelFormatError(file, `${where} (${className}) has no config object`);
  const name = nameOf(l.name) ?? nameOf(config.name);
  if (name === undefined) throw new ModelFormatError(file, `${where} (${className}) has no name`);
  return { className, name, config, raw: l };
}

/** Finds the Keras model config inside `modelTopology` (tfjs writes it directly, the converter under model_config). */
function modelConfig(file: string, topo: unknown): { cls: string; cfg: unknown; version: string } {
  if (!isPlainObject(topo)) throw new ModelFormatError(file, 'modelTopology must be an object');
  let m: Record<string, unknown> = topo;
  let version = typeof topo.keras_version === 'string' ? topo.keras_version : '';
  if (isPlainObject(topo.model_config)) {
    m = topo.model_config;
    if (typeof m.keras_version === 'string') version = m.keras_version;
  }
  const cls = nameOf(m.class_name);
  if (cls === undefined) throw new ModelFormatError(file, 'modelTopology has no class_name');
  return { cls, cfg: m.config, version };
}

export function parseTopology(file: string, topo: unknown): Graph {
  const { cls, cfg, version } = modelConfig(file, topo);
  const layers = new Map<string, LayerSpec>();
  const order: string[] = [];
  const add = (spec: LayerSpec, where: string) => {
    if (layers.has(spec.name)) throw new ModelFormatError(file, `${where}: two layers are named "${spec.name}"`);
    layers.set(spec.name, spec);
    order.push(spec.name);
  };
  let inputs: TensorRef[];
  let outputs: TensorRef[];
  if (cls === 'Sequential') {
    const list = Array.isArray(cfg) ? cfg : isPlainObject(cfg) ? cfg.layers : undefined;
    if (!Array.isArray(list) || list.length === 0) throw new ModelFormatError(file, 'the Sequential model has no layers');
    if (list.length > MAX_LAYERS) throw new ModelFormatError(file, 'the model has too many layers');
    const entries = list.map((l: unknown, i: number) => layerEntry(file, l, `layers[${i}]`));
    let first = 0;
    let prev: TensorRef;
    const e0 = entries[0]!;
    if (e0.className === 'InputLayer') {
      add({ className: 'InputLayer', name: e0.name, config: e0.config, nodes: [] }, 'layers[0]');
      first = 1;
      prev = { layer: e0.name, node: 0, tensor: 0 };
    } else {
      // tfjs and Keras name the implicit input `<first layer>_input`
      const inName = `${e0.name}_input`;
      const shape = batchShapeOf(file, e0.config, `layers[0] (${e0.className} "${e0.name}")`);
      const icfg: Record<string, unknown> = { name: inName, batch_input_shape: shape ?? null };
      const dt = dtypeOf(e0.config);
      if (dt !== undefined) icfg.dtype = dt;
      if (e0.className === 'Embedding') icfg.dtype = 'int32';
      add({ className: 'InputLayer', name: inName, config: icfg, nodes: [] }, 'layers[0]');
      prev = { layer: inName, node: 0, tensor: 0 };
    }
    for (let i = first; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.className === 'InputLayer') throw new ModelFormatError(file, `layers[${i}]: an InputLayer can only come first in a Sequential model`);
      add({ className: e.className, name: e.name, config: e.config, nodes: [[prev]] }, `layers[${i}]`);
      prev = { layer: e.name, node: 0, tensor: 0 };
    }
    inputs = [{ layer: order[0]!, node: 0, tensor: 0 }];
    outputs = [prev];
  } else if (cls === 'Model' || cls === 'Functional') {
    if (!isPlainObject(cfg)) throw new ModelFormatError(file, `the ${cls} model has no config`);
    const list = cfg.layers;
    if (!Array.isArray(list) || list.length === 0) throw new ModelFormatError(file, `the ${cls} model has no layers`);
    if (list.length > MAX_LAYERS) throw new ModelFormatError(file, 'the model has too many layers');
    list.forEach((l: unknown, i: number) => {
      const e = layerEntry(file, l, `layers[${i}]`);
      const nodes = e.className === 'InputLayer' ? [] : parseInboundNodes(file, e.raw.inbound_nodes, `layers[${i}] (${e.className} "${e.name}")`);
      add({ className: e.className, name: e.name, config: e.config, nodes }, `layers[${i}]`);
    });
    inputs = parseRefList(file, cfg.input_layers, 'input_layers');
    outputs = parseRefList(file, cfg.output_layers, 'output_layers');
    for (const r of inputs) {
      const l = layers.get(r.layer);
      if (!l || l.className !== 'InputLayer' || r.node !== 0 || r.tensor !== 0)
        throw new ModelFormatError(file, `input_layers names "${r.layer}", which is not an InputLayer of this model`);
    }
  } else {
    throw new ModelFormatError(file, `unsupported model class "${cls}" (Sequential, Model or Functional)`);
  }

  // check every reference, then order the applications (Kahn's algorithm: no recursion, detects cycles)
  const nodeCount = (l: LayerSpec) => (l.className === 'InputLayer' ? 1 : l.nodes.length);
  const checkRef = (r: TensorRef, where: string) => {
    const l = layers.get(r.layer);
    if (!l) throw new ModelFormatError(file, `${where} refers to a layer "${r.layer}" that the model does not have (dangling reference)`);
    if (r.node >= nodeCount(l)) throw new ModelFormatError(file, `${where} refers to node ${r.node} of layer "${r.layer}", which has ${nodeCount(l)} (dangling reference)`);
  };
  const key = (layer: string, node: number) => `${node}\u0000${layer}`;
  const indeg = new Map<string, number>();
  const users = new Map<string, { layer: string; node: number }[]>();
  for (const l of layers.values()) {
    if (l.className === 'InputLayer') continue;
    l.nodes.forEach((refs, n) => {
      let deg = 0;
      for (const r of refs) {
        checkRef(r, `layer "${l.name}" node ${n}`);
        const src = layers.get(r.layer)!;
        if (src.className === 'InputLayer') continue;
        deg++;
        const k = key(r.layer, r.node);
        let u = users.get(k);
        if (!u) users.set(k, (u = []));
        u.push({ layer: l.name, node: n });
      }
      indeg.set(key(l.name, n), deg);
    });
  }
  for (const r of outputs) checkRef(r, 'output_layers');
  const ready: { layer: string; node: number }[] = [];
  for (const l of layers.values()) l.nodes.forEach((_, n) => { if (l.className !== 'InputLayer' && indeg.get(key(l.name, n)) === 0) ready.push({ layer: l.name, node: n }); });
  const schedule: { layer: string; node: number }[] = [];
  for (let qi = 0; qi < ready.length; qi++) {
    const a = ready[qi]!;
    schedule.push(a);
    for (const u of users.get(key(a.layer, a.node)) ?? []) {
      const k = key(u.layer, u.node);
      const d = (indeg.get(k) as number) - 1;
      indeg.set(k, d);
      if (d === 0) ready.push(u);
    }
  }
  if (schedule.length !== indeg.size) {
    const stuck = [...indeg.entries()].filter(([, d]) => d > 0).map(([k]) => k.split('\u0000')[1]);
    throw new ModelFormatError(file, `the layer graph has a cycle (through ${[...new Set(stuck)].slice(0, 5).map((s) => `"${s}"`).join(', ')})`);
  }
  return { layers, order, inputs, outputs, schedule, kerasVersion: version };
}
