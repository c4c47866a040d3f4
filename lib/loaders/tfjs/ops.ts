/**
 * Executable layers of a tfjs / Keras layers model. Each layer is built once at load (weights
 * converted to rnnx's layouts, recurrent layers as native LSTM / GRU / RNN stacks), checks the
 * shapes it is applied to (`infer`), and runs on values with an optional [B, T] mask (`run`).
 *
 * Masking follows tfjs / Keras: at a masked step a recurrent layer keeps its state and outputs
 * its previous output. rnnx takes the mask as per-sequence lengths, so padding must be trailing.
 */
import { InvalidArgumentError, ModelFormatError } from '../../errors.js';
import { Tensor } from '../../tensor.js';
import { LSTM } from '../../layers/LSTM.js';
import { GRU } from '../../layers/GRU.js';
import { RNN } from '../../layers/RNN.js';
import type { Recurrent } from '../../layers/Recurrent.js';
import type { ActivationSpec } from '../../layers/activations.js';
import { isPlainObject } from '../../validate.js';
import { type Act, applyActivation, dense, parseActivation, toRecurrentSpec } from './math.js';
import type { TfjsWeight } from './weights.js';
import { nameOf } from './topology.js';

export type Dim = number | null;
/** A symbolic tensor: shape with unknown (null) dimensions, and element type. */
export interface Sym {
  shape: Dim[];
  dtype: 'float32' | 'int32';
}
/** A value: data, shape and an optional mask over its first two dimensions [B, T]. */
export interface Val {
  data: Float32Array | Int32Array;
  shape: number[];
  mask: Uint8Array | null;
}

export interface Op {
  readonly name: string;
  readonly className: string;
  infer(inputs: Sym[]): Sym[];
  run(inputs: Val[]): Promise<Val[]>;
  dispose(): void;
}

export interface BuildContext {
  file: string;
  keras3: boolean;
  tfjs: boolean;
}

const MAX_UNITS = 2 ** 24;

class Fail {
  constructor(
    readonly file: string,
    readonly where: string,
  ) {}
  error(why: string): ModelFormatError {
    return new ModelFormatError(this.file, `${this.where}: ${why}`);
  }
}

function bool(f: Fail, cfg: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = cfg[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw f.error(`${key} must be true or false`);
  return v;
}

function floatVal(v: Val, f: Fail): Float32Array {
  if (v.data instanceof Float32Array) return v.data;
  throw f.error('expects float input but receives integer ids');
}

function shapeStr(s: readonly Dim[]): string {
  return `[${s.map((d) => (d === null ? 'null' : String(d))).join(', ')}]`;
}

function one(inputs: Sym[], f: Fail): Sym {
  if (inputs.length !== 1) throw f.error(`takes one input tensor, but is applied to ${inputs.length}`);
  return inputs[0]!;
}

function lastDim(s: Sym): Dim {
  return s.shape.length > 0 ? (s.shape[s.shape.length - 1] as Dim) : null;
}

// ---------------------------------------------------------------------------------------------
// weights by role

/** The last path segment of a weight name (kernel, recurrent_kernel, bias, embeddings, ...). */
function role(w: TfjsWeight): string {
  const parts = w.name.split('/');
  return parts[parts.length - 1] as string;
}

/**
 * Picks the weights for `roles` from a layer's weights: by name first, then in order for the
 * roles that no name matched. Optional roles (suffix '?') may be absent.
 */
function pick(f: Fail, ws: TfjsWeight[], roles: string[]): Record<string, TfjsWeight | undefined> {
  const out: Record<string, TfjsWeight | undefined> = {};
  const left = ws.slice();
  const want = roles.map((r) => r.replace(/\?$/, ''));
  for (const r of want) {
    const i = left.findIndex((w) => role(w) === r);
    if (i >= 0) out[r] = left.splice(i, 1)[0];
  }
  for (let k = 0; k < want.length; k++) {
    const r = want[k] as string;
    if (out[r] === undefined && left.length > 0 && !want.includes(role(left[0]!))) out[r] = left.shift();
    if (out[r] === undefined && !(roles[k] as string).endsWith('?')) throw f.error(`has no "${r}" weight`);
  }
  if (left.length > 0) throw f.error(`has unexpected weights ${left.map((w) => `"${w.name}"`).join(', ')}`);
  return out;
}

function expectShape(f: Fail, w: TfjsWeight, shape: number[], what: string): void {
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))
    throw f.error(`${what} "${w.name}" has shape ${shapeStr(w.shape)}, expected ${shapeStr(shape)}`);
}

function checkFinite(f: Fail, w: TfjsWeight): void {
  const d = w.data;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i] as number)) throw f.error(`weight "${w.name}" holds a non-finite value`);
}

function units(f: Fail, cfg: Record<string, unknown>, fromWeights: number): number {
  const u = cfg.units;
  if (u !== undefined && u !== null) {
    if (typeof u !== 'number' || !Number.isInteger(u) || u < 1 || u > MAX_UNITS) throw f.error('units must be a positive integer');
    if (u !== fromWeights) throw f.error(`units is ${u} but the weights hold ${fromWeights}`);
  }
  return fromWeights;
}

// ---------------------------------------------------------------------------------------------
// masks

/** Per-sequence lengths from a [B, T] mask; padding must come after every real step. */
export function lengthsFromMask(mask: Uint8Array, B: number, T: number, layer: string): Int32Array {
  if (mask.length !== B * T)
    throw new InvalidArgumentError(`Layer "${layer}" received a mask that does not match its [batch, time] input`, {
      param: 'inputs',
      expected: `a mask of ${B}x${T}`,
      received: `${mask.length} values`,
    });
  const lens = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let L = 0;
    while (L < T && mask[b * T + L]) L++;
    for (let t = L; t < T; t++)
      if (mask[b * T + t])
        throw new InvalidArgumentError(
          `Expected padding (masked steps) only at the end of each sequence for the input of layer "${layer}" but sequence ${b} has a real step at t=${t} after padding at t=${L}`,
          { param: 'inputs', expected: 'trailing padding', received: `padding at step ${L} before a real step at ${t} (sequence ${b})` },
        );
    lens[b] = L;
  }
  return lens;
}

function andMasks(vals: Val[]): Uint8Array | null {
  let m: Uint8Array | null = null;
  for (const v of vals) {
    if (!v.mask) continue;
    if (!m) m = v.mask.slice();
    else if (m.length === v.mask.length) for (let i = 0; i < m.length; i++) m[i] = (m[i] as number) & (v.mask[i] as number);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// recurrent layers

type Cell = 'lstm' | 'gru' | 'rnn';
const CELL_OF: Record<string, Cell> = { LSTM: 'lstm', GRU: 'gru', SimpleRNN: 'rnn', CuDNNLSTM: 'lstm', CuDNNGRU: 'gru' };
const GATES: Record<Cell, number> = { lstm: 4, gru: 3, rnn: 1 };

/** Keras blocks → PyTorch blocks: torch block j is Keras block perm[j] (GRU z,r,h → r,z,n). */
const PERM: Record<Cell, number[]> = { lstm: [0, 1, 2, 3], gru: [1, 0, 2], rnn: [0] };

function transposeBlocks(k: Float32Array, rows: number, G: number, H: number, perm: number[]): Float32Array {
  const cols = G * H;
  const out = new Float32Array(cols * rows);
  for (let j = 0; j < G; j++) {
    const src = (perm[j] as number) * H;
    for (let h = 0; h < H; h++) {
      const o = (j * H + h) * rows;
      const c = src + h;
      for (let r = 0; r < rows; r++) out[o + r] = k[r * cols + c] as number;
    }
  }
  return out;
}

function permuteBias(b: Float32Array, G: number, H: number, perm: number[]): Float32Array {
  const out = new Float32Array(G * H);
  for (let j = 0; j < G; j++) out.set(b.subarray((perm[j] as number) * H, (perm[j] as number) * H + H), j * H);
  return out;
}

interface RecOutputs {
  seq: Float32Array | null;
  h: Float32Array;
  c: Float32Array | null;
}

/** One Keras recurrent layer (LSTM, GRU, SimpleRNN) on rnnx's native stack. */
class RecurrentCore {
  readonly cell: Cell;
  readonly inputSize: number;
  readonly units: number;
  readonly goBackwards: boolean;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  private readonly layer: Recurrent;

  constructor(f: Fail, className: string, cfg: Record<string, unknown>, ws: TfjsWeight[], ctx: BuildContext, goBackwardsOverride?: boolean) {
    const cell = CELL_OF[className];
    if (!cell) throw f.error(`unsupported recurrent layer class "${className}"`);
    this.cell = cell;
    const G = GATES[cell];
    if (bool(f, cfg, 'stateful', false)) throw f.error('stateful recurrent layers are not supported');
    if (bool(f, cfg, 'time_major', false)) throw f.error('time_major recurrent layers are not supported');
    const useBias = bool(f, cfg, 'use_bias', true);
    const w = pick(f, ws, useBias ? ['kernel', 'recurrent_kernel', 'bias'] : ['kernel', 'recurrent_kernel']);
    const kernel = w.kernel!;
    const rec = w.recurrent_kernel!;
    if (rec.shape.length !== 2) throw f.error(`recurrent_kernel "${rec.name}" must be 2-D, got ${shapeStr(rec.shape)}`);
    const H = rec.shape[0] as number;
    if (H < 1) throw f.error('recurrent_kernel has no units');
    if (rec.shape[1] !== G * H)
      throw f.error(`recurrent_kernel "${rec.name}" has shape ${shapeStr(rec.shape)}: a ${className} needs ${G} gate block${G > 1 ? 's' : ''} of ${H} units (${G * H} columns), wrong gate count`);
    if (kernel.shape.length !== 2 || kernel.shape[1] !== G * H || (kernel.shape[0] as number) < 1)
      throw f.error(`kernel "${kernel.name}" has shape ${shapeStr(kernel.shape)}, expected [input size, ${G * H}] (${G} gates of ${H} units)`);
    const I = kernel.shape[0] as number;
    this.units = units(f, cfg, H);
    this.inputSize = I;
    checkFinite(f, kernel);
    checkFinite(f, rec);

    let resetAfter = false;
    if (cell === 'gru') {
      const ra = cfg.reset_after;
      if (ra === undefined || ra === null) {
        if (w.bias) resetAfter = w.bias.shape.length === 2;
        else resetAfter = !ctx.tfjs;
      } else if (typeof ra !== 'boolean') throw f.error('reset_after must be true or false');
      else resetAfter = ra;
    }
    const perm = PERM[cell];
    const sd: Record<string, Tensor> = {
      weight_ih_l0: new Tensor(transposeBlocks(kernel.data, I, G, H, perm), [G * H, I]),
      weight_hh_l0: new Tensor(transposeBlocks(rec.data, H, G, H, perm), [G * H, H]),
    };
    if (useBias) {
      const b = w.bias!;
      checkFinite(f, b);
      if (resetAfter) {
        if (!((b.shape.length === 2 && b.shape[0] === 2 && b.shape[1] === G * H) || (b.shape.length === 1 && b.shape[0] === 2 * G * H)))
          throw f.error(`bias "${b.name}" has shape ${shapeStr(b.shape)}, expected [2, ${G * H}] (reset_after: input and recurrent bias)`);
        sd.bias_ih_l0 = new Tensor(permuteBias(b.data.subarray(0, G * H), G, H, perm), [G * H]);
        sd.bias_hh_l0 = new Tensor(permuteBias(b.data.subarray(G * H), G, H, perm), [G * H]);
      } else {
        expectShape(f, b, [G * H], 'bias');
        sd.bias_ih_l0 = new Tensor(permuteBias(b.data, G, H, perm), [G * H]);
        sd.bias_hh_l0 = new Tensor(new Float32Array(G * H), [G * H]);
      }
    }
    const act = parseActivation(ctx.file, cfg.activation, `${f.where}: activation`, ctx.keras3, 'tanh');
    const activations: ActivationSpec[] = [toRecurrentSpec(ctx.file, act, `${f.where}: activation`)];
    if (cell !== 'rnn') {
      const dflt = ctx.tfjs ? 'hard_sigmoid' : 'sigmoid';
      const ra = parseActivation(ctx.file, cfg.recurrent_activation, `${f.where}: recurrent_activation`, ctx.keras3, dflt);
      activations.unshift(toRecurrentSpec(ctx.file, ra, `${f.where}: recurrent_activation`));
      if (cell === 'lstm') activations.push(activations[1]!);
    }
    this.goBackwards = goBackwardsOverride ?? bool(f, cfg, 'go_backwards', false);
    this.returnSequences = bool(f, cfg, 'return_sequences', false);
    this.returnState = bool(f, cfg, 'return_state', false);
    const opts = { inputSize: I, hiddenSize: H, batchFirst: true, bias: useBias };
    try {
      if (cell === 'lstm') this.layer = LSTM.fromStateDict(sd, { ...opts, activations: activations as [ActivationSpec, ActivationSpec, ActivationSpec] });
      else if (cell === 'gru') this.layer = GRU.fromStateDict(sd, { ...opts, linearBeforeReset: resetAfter, activations: activations as [ActivationSpec, ActivationSpec] });
      else this.layer = RNN.fromStateDict(sd, { ...opts, activations: activations as [ActivationSpec] });
    } catch (e) {
      throw new ModelFormatError(ctx.file, `${f.where}: ${(e as Error).message}`, { cause: e });
    }
  }

  get numStates(): number {
    return this.cell === 'lstm' ? 2 : 1;
  }

  async run(x: Float32Array, B: number, T: number, mask: Uint8Array | null, name: string): Promise<RecOutputs> {
    const I = this.inputSize;
    const H = this.units;
    const lens = mask ? lengthsFromMask(mask, B, T, name) : null;
    let xin = x;
    if (this.goBackwards) {
      xin = new Float32Array(B * T * I);
      for (let b = 0; b < B; b++) {
        const L = lens ? (lens[b] as number) : T;
        for (let t = 0; t < L; t++) xin.set(x.subarray((b * T + (L - 1 - t)) * I, (b * T + (L - t)) * I), (b * T + t) * I);
      }
    }
    const runLens = lens ? Int32Array.from(lens, (l) => Math.max(l, 1)) : undefined;
    const r = await this.layer.forwardAsync(new Tensor(xin, [B, T, I]), runLens ? { lengths: runLens } : undefined);
    const y = r.output.data as Float32Array;
    const h = r.h.data as Float32Array;
    const c = r.c ? (r.c.data as Float32Array) : null;
    if (lens) {
      for (let b = 0; b < B; b++) {
        if (lens[b] !== 0) continue;
        h.fill(0, b * H, (b + 1) * H);
        c?.fill(0, b * H, (b + 1) * H);
        y.fill(0, b * T * H, (b + 1) * T * H);
      }
    }
    let seq: Float32Array | null = null;
    if (this.returnSequences) {
      seq = y;
      if (lens && !this.goBackwards) {
        // masked steps repeat the last real output (tfjs: output = previous state h)
        for (let b = 0; b < B; b++) {
          const L = lens[b] as number;
          if (L === 0 || L === T) continue;
          const last = y.subarray((b * T + L - 1) * H, (b * T + L) * H);
          for (let t = L; t < T; t++) y.set(last, (b * T + t) * H);
        }
      } else if (lens) {
        // reversed time: the padding comes first (zero output), then the real steps
        seq = new Float32Array(B * T * H);
        for (let b = 0; b < B; b++) {
          const L = lens[b] as number;
          seq.set(y.subarray(b * T * H, (b * T + L) * H), (b * T + T - L) * H);
        }
      }
    }
    return { seq, h, c };
  }

  dispose(): void {
    this.layer.dispose();
  }
}

function recurrentInput(inputs: Sym[], f: Fail, I: number): Sym {
  const s = one(inputs, f);
  if (s.dtype !== 'float32') throw f.error('expects float input');
  if (s.shape.length !== 3) throw f.error(`expects a [batch, time, features] input, got ${shapeStr(s.shape)}`);
  const d = lastDim(s);
  if (d !== null && d !== I) throw f.error(`its kernel takes ${I} features but its input has shape ${shapeStr(s.shape)}`);
  return s;
}

function recurrentValue(inputs: Val[], f: Fail, I: number): { x: Float32Array; B: number; T: number; mask: Uint8Array | null } {
  const v = inputs[0]!;
  const x = floatVal(v, f);
  const [B, T, F] = v.shape as [number, number, number];
  if (v.shape.length !== 3 || F !== I) throw f.error(`expects [batch, time, ${I}] input, got ${shapeStr(v.shape)}`);
  if (T < 1) throw new InvalidArgumentError(`Layer input needs at least one time step`, { param: 'inputs', expected: 'T >= 1', received: shapeStr(v.shape) });
  return { x, B, T, mask: v.mask };
}

class RecurrentOp implements Op {
  private readonly core: RecurrentCore;
  private readonly f: Fail;
  constructor(
    readonly name: string,
    readonly className: string,
    cfg: Record<string, unknown>,
    ws: TfjsWeight[],
    ctx: BuildContext,
  ) {
    this.f = new Fail(ctx.file, `layer "${name}" (${className})`);
    this.core = new RecurrentCore(this.f, className, cfg, ws, ctx);
  }

  infer(inputs: Sym[]): Sym[] {
    const s = recurrentInput(inputs, this.f, this.core.inputSize);
    const B = s.shape[0] as Dim;
    const H = this.core.units;
    const out: Sym[] = [{ shape: this.core.returnSequences ? [B, s.shape[1] as Dim, H] : [B, H], dtype: 'float32' }];
    if (this.core.returnState) for (let i = 0; i < this.core.numStates; i++) out.push({ shape: [B, H], dtype: 'float32' });
    return out;
  }

  async run(inputs: Val[]): Promise<Val[]> {
    const { x, B, T, mask } = recurrentValue(inputs, this.f, this.core.inputSize);
    const r = await this.core.run(x, B, T, mask, this.name);
    const H = this.core.units;
    const out: Val[] = [r.seq ? { data: r.seq, shape: [B, T, H], mask } : { data: r.h, shape: [B, H], mask: null }];
    if (this.core.returnState) {
      out.push({ data: r.seq ? r.h : r.h.slice(), shape: [B, H], mask: null });
      if (r.c) out.push({ data: r.c, shape: [B, H], mask: null });
    }
    return out;
  }

  dispose(): void {
    this.core.dispose();
  }
}

type MergeMode = 'concat' | 'sum' | 'mul' | 'ave' | null;

class BidirectionalOp implements Op {
  private readonly fwd: RecurrentCore;
  private readonly bwd: RecurrentCore;
  private readonly mode: MergeMode;
  private readonly f: Fail;
  constructor(
    readonly name: string,
    readonly className: string,
    cfg: Record<string, unknown>,
    ws: TfjsWeight[],
    ctx: BuildContext,
  ) {
    const f = (this.f = new Fail(ctx.file, `layer "${name}" (Bidirectional)`));
    const inner = cfg.layer;
    if (!isPlainObject(inner) || !isPlainObject(inner.config) || nameOf(inner.class_name) === undefined) throw f.error('has no wrapped layer');
    const innerCls = inner.class_name as string;
    if (!CELL_OF[innerCls]) throw f.error(`wraps an unsupported layer class "${innerCls}" (LSTM, GRU or SimpleRNN)`);
    let backCls = innerCls;
    let backCfg = inner.config;
    if (isPlainObject(cfg.backward_layer)) {
      const bl = cfg.backward_layer;
      if (!isPlainObject(bl.config) || nameOf(bl.class_name) === undefined || !CELL_OF[bl.class_name as string])
        throw f.error('has an unsupported backward_layer');
      backCls = bl.class_name as string;
      backCfg = bl.config;
    }
    const m = cfg.merge_mode === undefined ? 'concat' : cfg.merge_mode;
    if (m !== 'concat' && m !== 'sum' && m !== 'mul' && m !== 'ave' && m !== null)
      throw f.error(`unsupported merge_mode ${JSON.stringify(m)} (concat, sum, mul, ave or null)`);
    this.mode = m;
    // split the weights: by a "forward…" / "backward…" path segment, else first half / second half
    const isDir = (w: TfjsWeight, d: string) => w.name.split('/').some((p) => p.startsWith(d));
    let fw = ws.filter((w) => isDir(w, 'forward') && !isDir(w, 'backward'));
    let bw = ws.filter((w) => isDir(w, 'backward') && !isDir(w, 'forward'));
    if (fw.length + bw.length !== ws.length || fw.length !== bw.length) {
      if (ws.length % 2 !== 0) throw f.error(`has ${ws.length} weights, which do not split into a forward and a backward layer`);
      fw = ws.slice(0, ws.length / 2);
      bw = ws.slice(ws.length / 2);
    }
    const innerGb = bool(f, inner.config, 'go_backwards', false);
    const fwF = new Fail(ctx.file, `layer "${name}" (Bidirectional, forward ${innerCls})`);
    const bwF = new Fail(ctx.file, `layer "${name}" (Bidirectional, backward ${backCls})`);
    const fwd = new RecurrentCore(fwF, innerCls, inner.config, fw, ctx, innerGb);
    let bwd: RecurrentCore | undefined;
    try {
      bwd = new RecurrentCore(bwF, backCls, backCfg, bw, ctx, !innerGb);
      if (bwd.inputSize !== fwd.inputSize) throw f.error('forward and backward layers take different input sizes');
      if (bwd.returnSequences !== fwd.returnSequences || bwd.returnState !== fwd.returnState)
        throw f.error('forward and backward layers differ in return_sequences / return_state');
      if (this.mode !== 'concat' && this.mode !== null && bwd.units !== fwd.units)
        throw f.error(`merge_mode ${this.mode} needs forward and backward layers of the same size`);
    } catch (e) {
      fwd.dispose();
      bwd?.dispose();
      throw e;
    }
    this.fwd = fwd;
    this.bwd = bwd;
  }

  infer(inputs: Sym[]): Sym[] {
    const s = recurrentInput(inputs, this.f, this.fwd.inputSize);
    const B = s.shape[0] as Dim;
    const seq = this.fwd.returnSequences;
    const pre: Dim[] = seq ? [B, s.shape[1] as Dim] : [B];
    const Hf = this.fwd.units;
    const Hb = this.bwd.units;
    const out: Sym[] =
      this.mode === null
        ? [{ shape: [...pre, Hf], dtype: 'float32' }, { shape: [...pre, Hb], dtype: 'float32' }]
        : [{ shape: [...pre, this.mode === 'concat' ? Hf + Hb : Hf], dtype: 'float32' }];
    if (this.fwd.returnState) {
      for (let i = 0; i < this.fwd.numStates; i++) out.push({ shape: [B, Hf], dtype: 'float32' });
      for (let i = 0; i < this.bwd.numStates; i++) out.push({ shape: [B, Hb], dtype: 'float32' });
    }
    return out;
  }

  async run(inputs: Val[]): Promise<Val[]> {
    const { x, B, T, mask } = recurrentValue(inputs, this.f, this.fwd.inputSize);
    const a = await this.fwd.run(x, B, T, mask, this.name);
    const b = await this.bwd.run(x, B, T, mask, this.name);
    const seq = this.fwd.returnSequences;
    const Hf = this.fwd.units;
    const Hb = this.bwd.units;
    const rows = seq ? B * T : B;
    const pre = seq ? [B, T] : [B];
    const outMask = seq ? mask : null;
    const ya = seq ? (a.seq as Float32Array) : a.h;
    let yb = seq ? (b.seq as Float32Array) : b.h;
    if (seq) {
      // Keras reverses the backward layer's sequence back into input order
      const r = new Float32Array(yb.length);
      for (let bi = 0; bi < B; bi++)
        for (let t = 0; t < T; t++) r.set(yb.subarray((bi * T + (T - 1 - t)) * Hb, (bi * T + (T - t)) * Hb), (bi * T + t) * Hb);
      yb = r;
    }
    const out: Val[] = [];
    if (this.mode === null) {
      out.push({ data: seq ? ya : ya.slice(), shape: [...pre, Hf], mask: outMask }, { data: seq ? yb : yb.slice(), shape: [...pre, Hb], mask: outMask });
    } else if (this.mode === 'concat') {
      const y = new Float32Array(rows * (Hf + Hb));
      for (let r = 0; r < rows; r++) {
        y.set(ya.subarray(r * Hf, (r + 1) * Hf), r * (Hf + Hb));
        y.set(yb.subarray(r * Hb, (r + 1) * Hb), r * (Hf + Hb) + Hf);
      }
      out.push({ data: y, shape: [...pre, Hf + Hb], mask: outMask });
    } else {
      const y = new Float32Array(rows * Hf);
      for (let i = 0; i < y.length; i++) {
        const p = ya[i] as number;
        const q = yb[i] as number;
        y[i] = this.mode === 'sum' ? p + q : this.mode === 'mul' ? p * q : (p + q) / 2;
      }
      out.push({ data: y, shape: [...pre, Hf], mask: outMask });
    }
    if (this.fwd.returnState) {
      out.push({ data: a.h, shape: [B, Hf], mask: null });
      if (a.c) out.push({ data: a.c, shape: [B, Hf], mask: null });
      out.push({ data: b.h, shape: [B, Hb], mask: null });
      if (b.c) out.push({ data: b.c, shape: [B, Hb], mask: null });
    }
    return out;
  }

  dispose(): void {
    this.fwd.dispose();
    this.bwd.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// feed-forward layers

class DenseOp implements Op {
  private readonly f: Fail;
  private readonly kernel: Float32Array;
  private readonly bias: Float32Array | null;
  private readonly I: number;
  private readonly U: number;
  private readonly act: Act;
  constructor(
    readonly name: string,
    readonly className: string,
    cfg: Record<string, unknown>,
    ws: TfjsWeight[],
    ctx: BuildContext,
    where?: string,
  ) {
    const f = (this.f = new Fail(ctx.file, where ?? `layer "${name}" (${className})`));
    const useBias = bool(f, cfg, 'use_bias', true);
    const w = pick(f, ws, useBias ? ['kernel', 'bias'] : ['kernel']);
    const k = w.kernel!;
    if (k.shape.length !== 2 || (k.shape[0] as number) < 1 || (k.shape[1] as number) < 1)
      throw f.error(`kernel "${k.name}" must be [input size, units], got ${shapeStr(k.shape)}`);
    this.I = k.shape[0] as number;
    this.U = units(f, cfg, k.shape[1] as number);
    checkFinite(f, k);
    this.kernel = k.data;
    this.bias = null;
    if (useBias) {
      expectShape(f, w.bias!, [this.U], 'bias');
      checkFinite(f, w.bias!);
      this.bias = w.bias!.data;
    }
    this.act = parseActivation(ctx.file, cfg.activation, `${f.where}: activation`, ctx.keras3, 'linear');
  }

  infer(inputs: Sym[]): Sym[] {
    const s = one(inputs, this.f);
    if (s.dtype !== 'float32') throw this.f.error('expects float input');
    if (s.shape.length < 2) throw this.f.error(`expects an input of rank 2 or more, got ${shapeStr(s.shape)}`);
    const d = lastDim(s);
    if (d !== null && d !== this.I) throw this.f.error(`its kernel takes ${this.I} features but its input has shape ${shapeStr(s.shape)}`);
    return [{ shape: [...s.shape.slice(0, -1), this.U], dtype: 'float32' }];
  }

  async run(inputs: Val[]): Promise<Val[]> {
    const v = inputs[0]!;
    const x = floatVal(v, this.f);
    if (v.shape[v.shape.length - 1] !== this.I) throw this.f.error(`expects ${this.I} features, got ${shapeStr(v.shape)}`);
    const rows = x.length / this.I;
    const y = dense(x, rows, this.I, this.kernel, this.U, this.bias);
    applyActivation(this.act, y, this.U);
    return [{ data: y, shape: [...v.shape.slice(0, -1), this.U], mask: v.mask }];
  }

  dispose(): void {}
}

/** Identity (Dropout and friends at inference), or an elementwise activation. */
class ElementwiseOp implements Op {
  private readonly f: Fail;
  constructor(
    readonly name: string,
    readonly className: string,
    private readonly act: Act | null,
    ctx: BuildContext,
  ) {
    this.f = new Fail(ctx.file, `layer "${name}" (${className})`);
  }
  infer(inputs: Sym[]): Sym[] {
    const s = one(inputs, this.f);
    if (this.act && s.dtype !== 'float32') throw this.f.error('expects float input');
    return [s];
  }
  async run(inputs: Val[]): Promise<Val[]> {
    const v = inputs[0]!;
    if (!this.act) return [v];
    const y = floatVal(v, this.f).slice();
    applyActivation(this.act, y, v.shape[v.shape.length - 1] ?? 1);
    return [{ data: y, shape: v.shape, mask: v.mask }];
  }
  dispose(): void {}
}

class EmbeddingOp implements Op {
  private readonly f: Fail;
  private readonly table: Float32Array;
  private readonly V: number;
  private readonly D: number;
  private readonly maskZero: boolean;
  constructor(
    readonly name: string,
    readonly className: string,
    cfg: Record<string, unknown>,
    ws: TfjsWeight[],
    ctx: BuildContext,
  ) {
    const f = (this.f = new Fail(ctx.file, `layer "${name}" (Embedding)`));
    const w = pick(f, ws, ['embeddings']).embeddings!;
    if (w.shape.length !== 2 || (w.shape[0] as number) < 1 || (w.shape[1] as number) < 1)
      throw f.error(`embeddings "${w.name}" must be [input_dim, output_dim], got ${shapeStr(w.shape)}`);
    this.V = w.shape[0] as number;
    this.D = w.shape[1] as number;
    if (cfg.input_dim !== undefined && cfg.input_dim !== this.V) throw f.error(`input_dim is ${JSON.stringify(cfg.input_dim)} but the embeddings hold ${this.V} rows`);
    if (cfg.output_dim !== undefined && cfg.output_dim !== this.D) throw f.error(`output_dim is ${JSON.stringify(cfg.output_dim)} but the embeddings are ${this.D} wide`);
    checkFinite(f, w);
    this.table = w.data;
    this.maskZero = bool(f, cfg, 'mask_zero', false);
  }
  infer(inputs: Sym[]): Sym[] {
    const s = one(inputs, this.f);
    if (s.shape.length < 1) throw this.f.error('expects token ids of rank 1 or more');
    return [{ shape: [...s.shape, this.D], dtype: 'float32' }];
  }
  async run(inputs: Val[]): Promise<Val[]> {
    const v = inputs[0]!;
    const ids = v.data;
    const n = ids.length;
    const D = this.D;
    const y = new Float32Array(n * D);
    const mask = this.maskZero ? new Uint8Array(n) : null;
    for (let i = 0; i < n; i++) {
      const id = ids[i] as number;
      if (!Number.isInteger(id) || id < 0 || id >= this.V)
        throw new InvalidArgumentError(`Expected token ids in 0..${this.V - 1} for layer "${this.name}" but received ${id} at position ${i}`, {
          param: 'inputs',
          expected: `integers in 0..${this.V - 1}`,
          received: String(id),
        });
      y.set(this.table.subarray(id * D, id * D + D), i * D);
      if (mask) mask[i] = id !== 0 ? 1 : 0;
    }
    return [{ data: y, shape: [...v.shape, D], mask: mask ?? v.mask }];
  }
  dispose(): void {}
}

class MaskingOp implements Op {
  private readonly f: Fail;
  private readonly value: number;
  constructor(
    readonly name: string,
    readonly className: string,
    cfg: Record<string, unknown>,
    ctx: BuildContext,
  ) {
    this.f = new Fail(ctx.file, `layer "${name}" (Masking)`);
    const v = cfg.mask_value === undefined || cfg.mask_value === null ? 0 : cfg.mask_value;
    if (typeof v !== 'number' || Number.isNaN(v)) throw this.f.error('mask_value must be a number');
    this.value = v;
  }
  infer(inputs: Sym[]): Sym[] {
    const s = one(inputs, this.f);
    if (s.dtype !== 'float32' || s.shape.length !== 3) throw this.f.error(`expects a float [batch, time, features] input, got ${shapeStr(s.shape)}`);
    return [s];
  }
  async run(inputs: Val[]): Promise<Val[]> {
    const v = inputs[0]!;
    const x = floatVal(v, this.f);
    const [B, T, F] = v.shape as [number, number, number];
    const mask = new Uint8Array(B * T);
    const y = new Float32Array(x.length);
    for (let r = 0; r < B * T; r++) {
      let keep = 0;
      for (let j = 0; j < F; j++) if (x[r * F + j] !== this.value) keep = 1;
      mask[r] = keep;
      if (keep) y.set(x.subarray(r * F, (r + 1) * F), r * F);
    }
    return [{ data: y, shape: v.shape, mask }];
  }
  dispose(): void {}
}

class FlattenOp implements Op {
  private readonly f: Fail;
  constructor(
    readonly name: string,
    readonly className: string,
    ctx: BuildContext,
  ) {
    this.f = new Fail(ctx.file, `layer "${name}" (Flatten)`);
  }
  infer(inputs: Sym[]): Sym[] {
    const s = one(inputs, this.f);
    const rest = s.shape.slice(1);
    const n = rest.some((d) => d === null) ? null : rest.reduce<number>((a, d) => a * (d as number), 1);
    return [{ shape: [s.shape[0] as Dim, n], dtype: s.dtype }];
  }
  async run(inputs: Val[]): Promise<Val[]> {
    const v = inputs[0]!;
    const B = v.shape[0] as number;
    return [{ data: v.data, shape: [B, B === 0 ? 0 : v.data.length / B], mask: null }];
  }
  dispose(): void {}
}

const MERGE = ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate'];

class MergeOp implements Op {
  private readonly f: Fail;
  private axis = -1;
  constructor(
    readonly name: string,
    readonly className: string,
    cfg: Record<string, unknown>,
    ctx: BuildContext,
  ) {
    this.f = new Fail(ctx.file, `layer "${name}" (${className})`);
    if (className === 'Concatenate') {
      const a = cfg.axis === undefined ? -1 : cfg.axis;
      if (typeof a !== 'number' || !Number.isInteger(a)) throw this.f.error('axis must be an integer');
      this.axis = a;
    }
  }
  private resolveAxis(rank: number): number {
    const a = this.axis < 0 ? rank + this.axis : this.axis;
    if (a < 1 || a >= rank) throw this.f.error(`cannot concatenate along axis ${this.axis} of rank-${rank} inputs`);
    return a;
  }
  infer(inputs: Sym[]): Sym[] {
    if (inputs.length < 2) throw this.f.error(`needs at least two inputs, got ${inputs.length}`);
    const r = inputs[0]!.shape.length;
    for (const s of inputs) {
      if (s.dtype !== 'float32') throw this.f.error('expects float inputs');
      if (s.shape.length !== r) throw this.f.error('inputs differ in rank');
    }
    if (this.className === 'Subtract' && inputs.length !== 2) throw this.f.error('needs exactly two inputs');
    const shape = inputs[0]!.shape.slice();
    const ax = this.className === 'Concatenate' ? this.resolveAxis(r) : -1;
    for (const s of inputs.slice(1)) {
      for (let i = 0; i < r; i++) {
        const a = shape[i] as Dim;
        const b = s.shape[i] as Dim;
        if (i === ax) shape[i] = a === null || b === null ? null : a + b;
        else if (a !== null && b !== null && a !== b) throw this.f.error(`input shapes ${inputs.map((x) => shapeStr(x.shape)).join(', ')} do not match`);
        else if (a === null) shape[i] = b;
      }
    }
    return [{ shape, dtype: 'float32' }];
  }
  async run(inputs: Val[]): Promise<Val[]> {
    const vals = inputs.map((v) => floatVal(v, this.f));
    const s0 = inputs[0]!.shape;
    const mask = andMasks(inputs);
    if (this.className === 'Concatenate') {
      const ax = this.resolveAxis(s0.length);
      const outer = s0.slice(0, ax).reduce((a, d) => a * d, 1);
      const widths = inputs.map((v) => {
        if (v.shape.length !== s0.length || v.shape.some((d, i) => i !== ax && d !== s0[i])) throw this.f.error('input shapes do not match');
        return v.shape.slice(ax).reduce((a, d) => a * d, 1);
      });
      const W = widths.reduce((a, d) => a + d, 0);
      const y = new Float32Array(outer * W);
      for (let o = 0; o < outer; o++) {
        let off = o * W;
        vals.forEach((x, k) => {
          const w = widths[k] as number;
          y.set(x.subarray(o * w, (o + 1) * w), off);
          off += w;
        });
      }
      const shape = s0.slice();
      shape[ax] = inputs.reduce((a, v) => a + (v.shape[ax] as number), 0);
      return [{ data: y, shape, mask }];
    }
    for (const v of inputs) if (v.shape.length !== s0.length || v.shape.some((d, i) => d !== s0[i])) throw this.f.error('input shapes do not match');
    const y = vals[0]!.slice();
    for (const x of vals.slice(1)) {
      for (let i = 0; i < y.length; i++) {
        const a = y[i] as number;
        const b = x[i] as number;
        switch (this.className) {
          case 'Add':
          case 'Average':
            y[i] = a + b;
            break;
          case 'Subtract':
            y[i] = a - b;
            break;
          case 'Multiply':
            y[i] = a * b;
            break;
          case 'Maximum':
            y[i] = Math.max(a, b);
            break;
          default:
            y[i] = Math.min(a, b);
        }
      }
    }
    if (this.className === 'Average') for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) / vals.length;
    return [{ data: y, shape: s0.slice(), mask }];
  }
  dispose(): void {}
}

const IDENTITY = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization']);

/** Number of weights a layer class stores (for matching weights by position when names do not help). */
export function weightCount(className: string, cfg: Record<string, unknown>): number {
  const bias = cfg.use_bias !== false;
  if (className === 'Embedding') return 1;
  if (className === 'Dense') return bias ? 2 : 1;
  if (CELL_OF[className]) return bias ? 3 : 2;
  if (className === 'TimeDistributed' || className === 'Bidirectional') {
    const inner = cfg.layer;
    if (!isPlainObject(inner) || !isPlainObject(inner.config) || typeof inner.class_name !== 'string') return 0;
    const n = weightCount(inner.class_name, inner.config);
    if (className === 'TimeDistributed') return n;
    const back = cfg.backward_layer;
    if (isPlainObject(back) && isPlainObject(back.config) && typeof back.class_name === 'string') return n + weightCount(back.class_name, back.config);
    return 2 * n;
  }
  return 0;
}

/** Builds the op for one layer. */
export function buildOp(className: string, name: string, cfg: Record<string, unknown>, ws: TfjsWeight[], ctx: BuildContext): Op {
  const f = new Fail(ctx.file, `layer "${name}" (${className})`);
  const noWeights = () => {
    if (ws.length > 0) throw f.error(`has weights (${ws.map((w) => `"${w.name}"`).join(', ')}) but a ${className} has none`);
  };
  if (CELL_OF[className]) return new RecurrentOp(name, className, cfg, ws, ctx);
  switch (className) {
    case 'Bidirectional':
      return new BidirectionalOp(name, className, cfg, ws, ctx);
    case 'Dense':
      return new DenseOp(name, className, cfg, ws, ctx);
    case 'Embedding':
      return new EmbeddingOp(name, className, cfg, ws, ctx);
    case 'Masking':
      noWeights();
      return new MaskingOp(name, className, cfg, ctx);
    case 'Activation':
      noWeights();
      return new ElementwiseOp(name, className, parseActivation(ctx.file, cfg.activation, `${f.where}: activation`, ctx.keras3, 'linear'), ctx);
    case 'Flatten':
      noWeights();
      return new FlattenOp(name, className, ctx);
    case 'TimeDistributed': {
      const inner = cfg.layer;
      if (!isPlainObject(inner) || !isPlainObject(inner.config) || nameOf(inner.class_name) === undefined) throw f.error('has no wrapped layer');
      const ic = inner.class_name as string;
      if (ic === 'Dense') return new DenseOp(name, className, inner.config, ws, ctx, `layer "${name}" (TimeDistributed(Dense))`);
      if (IDENTITY.has(ic)) {
        noWeights();
        return new ElementwiseOp(name, className, null, ctx);
      }
      if (ic === 'Activation') {
        noWeights();
        return new ElementwiseOp(name, className, parseActivation(ctx.file, inner.config.activation, `${f.where}: activation`, ctx.keras3, 'linear'), ctx);
      }
      throw f.error(`wraps an unsupported layer class "${ic}" (Dense, Activation or Dropout)`);
    }
    default:
      if (IDENTITY.has(className)) {
        noWeights();
        return new ElementwiseOp(name, className, null, ctx);
      }
      if (MERGE.includes(className)) {
        noWeights();
        return new MergeOp(name, className, cfg, ctx);
      }
      throw f.error(`unsupported layer class "${className}"`);
  }
}
