/**
 * An executable ONNX graph: checked references, topological order (cycles detected), constants
 * (initializers and Constant nodes) evaluated at load, one prepared kernel per node.
 */
import type { Recurrent } from '../../layers/Recurrent.js';
import type { GraphMsg, ModelMsg, NodeMsg, ValueInfoMsg } from './proto.js';
import { Attrs, type Kernel, OPS, type OpFactory } from './ops.js';
import { recurrentOp } from './rnn.js';
import { type VDType, type Val, GraphError, fail, fromOnnxType, onnxTypeName, tensorFromProto } from './values.js';

export interface GraphInput {
  name: string;
  dtype: VDType;
  /** Declared dims: number = fixed, string/null = dynamic; null = rank unknown. */
  shape: (number | string | null)[] | null;
}

export interface Step {
  node: NodeMsg;
  label: string;
  kernel: Kernel;
}

export interface Graph {
  inputs: GraphInput[];
  outputs: string[];
  consts: Map<string, Val>;
  steps: Step[];
  /** For each step, the values whose last use it is (freed afterwards). */
  frees: string[][];
  layers: Recurrent[];
}

export const MIN_OPSET = 7;
export const MAX_OPSET = 23;

export function nodeLabel(n: NodeMsg, index: number): string {
  const name = n.name !== '' ? `"${clip(n.name)}"` : `#${index}`;
  return `node ${name} (${clip(n.opType) || '<no op_type>'})`;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** Builds the graph. Throws GraphError (with a reason) on any problem; the caller adds the file. */
export function buildGraph(model: ModelMsg): Graph {
  const g: GraphMsg = model.graph;
  const opset = model.opset.get('') ?? (model.opset.size === 0 ? 13 : undefined);
  if (opset === undefined) fail('the model imports no opset of the default ONNX domain');
  if (opset < MIN_OPSET || opset > MAX_OPSET) fail(`opset ${opset} is not supported (rnnx reads opsets ${MIN_OPSET}..${MAX_OPSET})`);
  if (g.hasSparse) fail('sparse initializers are not supported');

  const layers: Recurrent[] = [];
  const sink = { add: (l: Recurrent) => layers.push(l) };
  const factories: Record<string, OpFactory> = {
    ...OPS,
    LSTM: recurrentOp('LSTM', sink),
    GRU: recurrentOp('GRU', sink),
    RNN: recurrentOp('RNN', sink),
  };

  try {
    const consts = new Map<string, Val>();
    const defined = new Set<string>();
    const define = (name: string, what: string) => {
      if (name === '') fail(`${what} has an empty name`);
      if (defined.has(name)) fail(`the value "${clip(name)}" is defined more than once (${what})`);
      defined.add(name);
    };
    for (const t of g.initializer) {
      define(t.name, 'an initializer');
      consts.set(t.name, tensorFromProto(t, `initializer "${clip(t.name)}"`));
    }
    const inputs: GraphInput[] = [];
    const seenIn = new Set<string>();
    for (const vi of g.input) {
      if (seenIn.has(vi.name)) fail(`graph input "${clip(vi.name)}" is listed twice`);
      seenIn.add(vi.name);
      if (consts.has(vi.name)) continue; // IR < 4: initializers are listed as inputs too
      define(vi.name, 'a graph input');
      inputs.push(graphInput(vi));
    }
    // producers
    const producer = new Map<string, number>();
    g.node.forEach((n, i) => {
      for (const o of n.output) {
        if (o === '') continue;
        define(o, `an output of ${nodeLabel(n, i)}`);
        producer.set(o, i);
      }
    });
    // references and dependency edges
    const indeg = new Array<number>(g.node.length).fill(0);
    const users: number[][] = g.node.map(() => []);
    g.node.forEach((n, i) => {
      for (const inp of n.input) {
        if (inp === '') continue;
        if (!defined.has(inp)) fail(`${nodeLabel(n, i)} reads "${clip(inp)}", which no node, input or initializer defines`);
        const p = producer.get(inp);
        if (p !== undefined) {
          indeg[i] = (indeg[i] as number) + 1;
          (users[p] as number[]).push(i);
        }
      }
    });
    // Kahn's algorithm, keeping file order where possible
    const order: number[] = [];
    const ready: number[] = [];
    indeg.forEach((d, i) => d === 0 && ready.push(i));
    ready.reverse();
    while (ready.length > 0) {
      const i = ready.pop() as number;
      order.push(i);
      for (const u of users[i] as number[]) {
        indeg[u] = (indeg[u] as number) - 1;
        if (indeg[u] === 0) ready.push(u);
      }
    }
    if (order.length !== g.node.length) {
      const stuck = indeg.findIndex((d) => d > 0);
      fail(`the graph has a cycle (through ${nodeLabel(g.node[stuck] as NodeMsg, stuck)})`);
    }
    const outputs = g.output.map((o) => o.name);
    if (outputs.length === 0) fail('the graph has no outputs');
    for (const o of outputs) if (!defined.has(o)) fail(`graph output "${clip(o)}" is not computed by the graph`);
    if (new Set(outputs).size !== outputs.length) fail('a graph output is listed twice');

    // kernels (Constant nodes are evaluated now, so RNN weights behind them are known)
    const steps: Step[] = [];
    for (const i of order) {
      const node = g.node[i] as NodeMsg;
      const label = nodeLabel(node, i);
      try {
        if (node.domain !== '' && node.domain !== 'ai.onnx')
          fail(`the operator ${clip(node.opType)} of domain "${clip(node.domain)}" is not supported`);
        const f = Object.prototype.hasOwnProperty.call(factories, node.opType) ? factories[node.opType] : undefined;
        if (f === undefined) fail(`the operator ${clip(node.opType) || '<empty>'} is not supported`);
        const kernel = f({ node, opset, attrs: new Attrs(node.attribute), consts });
        if (node.opType === 'Constant') {
          const out = kernel([]) as Val[];
          if (node.output[0]) consts.set(node.output[0], out[0] as Val);
        }
        steps.push({ node, label, kernel });
      } catch (e) {
        if (e instanceof GraphError) fail(`${label}: ${e.message}`);
        throw e;
      }
    }
    // last uses
    const last = new Map<string, number>();
    steps.forEach((s, k) => s.node.input.forEach((n) => n !== '' && last.set(n, k)));
    const keep = new Set([...outputs, ...consts.keys(), ...inputs.map((x) => x.name)]);
    const frees: string[][] = steps.map(() => []);
    for (const [n, k] of last) if (!keep.has(n)) (frees[k] as string[]).push(n);
    return { inputs, outputs, consts, steps, frees, layers };
  } catch (e) {
    for (const l of layers) l.dispose();
    throw e;
  }
}

function graphInput(vi: ValueInfoMsg): GraphInput {
  const dtype = fromOnnxType(vi.elemType);
  if (dtype === undefined)
    fail(`graph input "${clip(vi.name)}" has type ${onnxTypeName(vi.elemType)}, which rnnx does not support`);
  if (vi.shape && vi.shape.length > 32) fail(`graph input "${clip(vi.name)}" has too many dimensions`);
  return { name: vi.name, dtype, shape: vi.shape };
}
