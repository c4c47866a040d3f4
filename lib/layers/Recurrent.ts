/**
 * The recurrent layer stack shared by {@link LSTM}, {@link GRU} and {@link RNN}: validation,
 * weight loading in PyTorch's names and layout, forward (sync and async), BPTT tapes and streams.
 * The math runs natively, one native call per forward / backward / stream step.
 */
import {
  DisposedError,
  InvalidArgumentError,
  ShapeError,
  describe,
  dtypeError,
  formatShape,
  fromNative,
  invalidArg,
  shapeError,
} from '../errors.js';
import { Tensor, checkShape, shapeSize } from '../tensor.js';
import { assertBoolean, checkOptions, isPlainObject } from '../validate.js';
import { getBinding } from '../native/binding.js';
import { mulberry32 } from '../random.js';
import type {
  NativeFloatArray,
  NativeRnn,
  NativeRnnConfig,
  NativeStream,
  NativeTape,
} from '../native/types.js';
import { type ActivationSpec, activationName, toNativeActivation } from './activations.js';

export type CellKind = 'rnn' | 'lstm' | 'gru';
export type FloatDType = 'float32' | 'float64';
type FloatTensor = Tensor<Float32Array> | Tensor<Float64Array>;

/** Options common to every recurrent stack (PyTorch's constructor arguments, camelCase). */
export interface RecurrentOptions {
  inputSize: number;
  hiddenSize: number;
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Run a reverse direction too; outputs are concatenated [forward, reverse] (default false). */
  bidirectional?: boolean;
  /** x and output are [B, T, F] instead of [T, B, F] (default false). */
  batchFirst?: boolean;
  /** Use bias_ih / bias_hh (default true). */
  bias?: boolean;
  /** Element type of weights, inputs and outputs (default 'float32'). */
  dtype?: FloatDType;
  /** ONNX `clip`: pre-activations are clamped to [-clip, clip] (default 0 = none). */
  clip?: number;
  /** Seed for the default uniform(-1/sqrt(H), 1/sqrt(H)) initialisation of `new LSTM(...)`. */
  seed?: number;
  /**
   * Weight precision for inference (forward without requiresGrad): 'float32' (default), 'bf16'
   * or 'int8' (per-row scales). Training always runs float32. Float32 models only.
   */
  precision?: 'float32' | 'bf16' | 'int8';
}

/** The resolved configuration of a stack. */
export interface RecurrentConfig {
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  projSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  bias: boolean;
  linearBeforeReset: boolean;
  activations: { name: string; alpha: number; beta: number }[];
  clip: number;
  dtype: FloatDType;
  /** LSTM only (ONNX): peephole weights weight_p_l{k} [3H], gates i, f, o. */
  peepholes: boolean;
  /** LSTM only (ONNX input_forget): the forget gate is 1 - the input gate. */
  inputForget: boolean;
}

export interface ForwardOptions {
  /** Initial hidden state [L*D, B, R] ([L*D, R] for unbatched input); zeros when omitted. */
  h0?: Tensor;
  /** Initial cell state [L*D, B, H] (LSTM only); zeros when omitted. */
  c0?: Tensor;
  /** Per-sequence lengths (each 1..T); padded steps output zero and the final state is taken at
   * each sequence's own end (PyTorch packed-sequence semantics). */
  lengths?: number[] | Int32Array;
  /** Record what BPTT needs and return a {@link Tape}. */
  requiresGrad?: boolean;
  /**
   * `false`: `output` is each sequence's last output only, [B, D*R] ([D*R] for unbatched input): the
   * top layer's final hidden state, both directions side by side (Keras `return_sequences=false`;
   * with `lengths`, taken at each sequence's own end). No per-step outputs are written at all: a
   * classifier that needs only the final state allocates nothing large. Inference only (not with
   * `requiresGrad`). Default `true`.
   */
  returnSequences?: boolean;
  /**
   * A tensor that receives `output` instead of a new array per call: exactly the output's shape
   * (with `returnSequences: false`, the last outputs' [B, D*R]) and the model's dtype, sharing no
   * memory with `x`, `h0` or `c0`. Every element is overwritten; the result's `output` is this
   * tensor. A throughput loop that reuses one saves the allocation of a large output and the page
   * faults of touching it (C3's 13 MB: about 5 % of a call). With {@link Recurrent.forwardAsync} it
   * must not be read or written until the promise settles.
   */
  out?: Tensor;
}

export interface ForwardResult {
  /** [T, B, D*R] ([B, T, D*R] with batchFirst; [T, D*R] for unbatched input); with
   * `returnSequences: false`, [B, D*R] ([D*R]). */
  output: FloatTensor;
  /** Final hidden state [L*D, B, R]. */
  h: FloatTensor;
  /** Final cell state [L*D, B, H] (LSTM only). */
  c?: FloatTensor;
}

export interface Gradients {
  /** dL/dx, like x (zero at padded steps). */
  input: FloatTensor;
  /** dL/dh0, like h0. */
  h0: FloatTensor;
  /** dL/dc0 (LSTM only). */
  c0?: FloatTensor;
  /** dL/dweight for every parameter, under PyTorch's names (views into one buffer). */
  weights: Record<string, FloatTensor>;
  /**
   * With `{ stateGrads: true }`: dL/dh_t, the total gradient reaching each step's hidden state,
   * [L*D, T, B, R] (time-major whatever the layout), zero at padded steps — what a vanishing-gradient
   * plot shows as ||dL/dh_t|| against t.
   */
  stateGrads?: FloatTensor;
}

export interface BackwardGrads {
  /** dL/doutput, like output (padded steps ignored); zeros when omitted. */
  output?: Tensor;
  /** dL/dh, like h; zeros when omitted. */
  h?: Tensor;
  /** dL/dc, like c (LSTM); zeros when omitted. */
  c?: Tensor;
}

/** Options of {@link Tape.backward}. (A type, not an interface: checkOptions narrows it as a plain record.) */
export type BackwardOptions = {
  /** Keep the tape for another backward (default false: backward frees it). */
  retain?: boolean;
  /** Also return dL/dh_t of every step ({@link Gradients.stateGrads}). */
  stateGrads?: boolean;
  /**
   * The {@link Gradients} of an earlier backward of this module, for the same sequence length and
   * batch: this call's gradients are written into its buffers (no allocation, no fresh pages: a
   * training loop's gradients of C4 are 3.6 MB a step) and the result shares them. Its tensors are
   * overwritten, so copy what must survive the next step.
   */
  out?: Gradients;
};

/** A recorded forward pass: its outputs plus `backward`. Holds native buffers until backward
 * (unless `retain`) or dispose(). */
export interface Tape extends ForwardResult {
  backward(grads?: BackwardGrads, options?: BackwardOptions): Gradients;
  dispose(): void;
  readonly disposed: boolean;
}

export interface StreamOptions {
  /** Number of independent streams stepped together (default 1). */
  batch?: number;
  h0?: Tensor;
  c0?: Tensor;
}

export interface StreamState {
  h: FloatTensor;
  c?: FloatTensor;
}

/**
 * Small outputs share slabs: views of up to SLAB_MAX bytes carved from SLAB_BYTES ArrayBuffers, as
 * Node's Buffer pool does (there: 4 KiB from 8 KiB). A slab lives while any view of it does; its
 * other bytes are zeros or other rnnx outputs, never memory from elsewhere in the process.
 */
const SLAB_BYTES = 1 << 16;
const SLAB_MAX = 1 << 13;
let slab: ArrayBuffer | null = null;
let slabUsed = 0;

/** The buffers behind a Gradients object (for backward's `out`), under a key of this module's own. */
const GRADIENT_BUFFERS = Symbol('rnnx.gradientBuffers');
interface GradientBuffers {
  owner: Recurrent;
  dx: NativeFloatArray;
  dh0: NativeFloatArray;
  dc0: NativeFloatArray | null;
  dw: NativeFloatArray;
  dhSteps: NativeFloatArray | null;
}

/** Whether two typed arrays share any byte of memory. */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** Step-by-step inference with the state kept natively (unidirectional stacks). */
export class RecurrentStream {
  /** @internal */
  private readonly native: NativeStream;
  /** @internal */
  private readonly owner: Recurrent;
  readonly batch: number;

  /** @internal the output's shapes, [R] (a batch of 1 fed unbatched frames) and [B, R], made once */
  private readonly outShapes: readonly [readonly number[], readonly number[]];

  /** @internal */
  constructor(owner: Recurrent, native: NativeStream, batch: number) {
    this.owner = owner;
    this.native = native;
    this.batch = batch;
    const R = owner.stateSize;
    this.outShapes = [checkShape([R], 'shape'), checkShape([batch, R], 'shape')];
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Feeds one time step. `frame` is [B, I] (or [I] when batch is 1); returns the top layer's
   * output for this step, [B, R] (or [R]).
   */
  step(frame: Tensor | Float32Array | Float64Array): FloatTensor {
    const cfg = this.owner.config;
    const I = cfg.inputSize;
    const B = this.batch;
    let data: unknown;
    let unbatched = false;
    if (Tensor.isTensor(frame)) {
      const s = frame.shape;
      if (s.length === 1 && B === 1 && s[0] === I) unbatched = true;
      else if (!(s.length === 2 && s[0] === B && s[1] === I))
        throw shapeError('frame', B === 1 ? `[${I}] or [1, ${I}]` : `[${B}, ${I}]`, s);
      data = frame.data;
    } else if (frame instanceof Float32Array || frame instanceof Float64Array) {
      if (frame.length !== B * I) throw shapeError('frame', `${B * I} values ([${B}, ${I}])`, describe(frame));
      data = frame;
      unbatched = B === 1;
    } else {
      throw invalidArg('frame', 'a Tensor or Float32Array', frame);
    }
    this.owner._checkDType(data, 'frame');
    const shape = this.outShapes[unbatched ? 0 : 1];
    const y = this.owner._allocOut(B * (shape[shape.length - 1] as number));
    try {
      this.native.step(data as NativeFloatArray, y);
    } catch (e) {
      throw fromNative(e);
    }
    return new Tensor(y, shape) as FloatTensor;
  }

  /** A copy of the state: h [L, B, R], c [L, B, H] (LSTM). Serialisable (e.g. to move a session). */
  state(): StreamState {
    const cfg = this.owner.config;
    const L = cfg.numLayers;
    const R = cfg.projSize > 0 ? cfg.projSize : cfg.hiddenSize;
    const h = this.owner._alloc(L * this.batch * R);
    const c = cfg.cell === 'lstm' ? this.owner._alloc(L * this.batch * cfg.hiddenSize) : null;
    try {
      this.native.getState(h, c);
    } catch (e) {
      throw fromNative(e);
    }
    const out: StreamState = { h: new Tensor(h, [L, this.batch, R]) as FloatTensor };
    if (c) out.c = new Tensor(c, [L, this.batch, cfg.hiddenSize]) as FloatTensor;
    return out;
  }

  /** Replaces the state with one from {@link state} (or any tensors of those shapes). */
  restore(state: { h: Tensor; c?: Tensor }): void {
    if (!isPlainObject(state) && !(typeof state === 'object' && state !== null))
      throw invalidArg('state', 'an object { h, c? }', state);
    const cfg = this.owner.config;
    const L = cfg.numLayers;
    const R = cfg.projSize > 0 ? cfg.projSize : cfg.hiddenSize;
    const h = this.owner._checkTensor(state.h, 'state.h', [L, this.batch, R]);
    let c: NativeFloatArray | null = null;
    if (cfg.cell === 'lstm') c = this.owner._checkTensor(state.c, 'state.c', [L, this.batch, cfg.hiddenSize]);
    else if (state.c !== undefined) throw invalidArg('state.c', `undefined (a ${cfg.cell.toUpperCase()} has no cell state)`, state.c);
    try {
      this.native.setState(h, c);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Zeros the state (a new utterance). */
  reset(): void {
    try {
      this.native.reset();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Frees the native state. Idempotent. */
  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

const BASE_OPTION_KEYS = [
  'inputSize',
  'hiddenSize',
  'numLayers',
  'bidirectional',
  'batchFirst',
  'bias',
  'dtype',
  'clip',
  'seed',
  'activations',
  'precision',
];

function positiveInt(v: unknown, param: string, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 2 ** 24)
    throw invalidArg(param, 'a positive integer', v);
  return v;
}

function bool(v: unknown, param: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  assertBoolean(v, param);
  return v;
}

function checkPrecision(p: unknown, param: string, dtype: FloatDType): 'float32' | 'bf16' | 'int8' {
  if (p !== 'float32' && p !== 'bf16' && p !== 'int8') throw invalidArg(param, "'float32', 'bf16' or 'int8'", p);
  if (p !== 'float32' && dtype !== 'float32') throw invalidArg(param, "'float32' for a float64 model", p);
  return p;
}

export type StateDictValue = Tensor | Float32Array | Float64Array | number[];
export type StateDict = Record<string, StateDictValue> | Map<string, StateDictValue>;

/**
 * Base class of LSTM / GRU / RNN. Not constructed directly.
 */
export abstract class Recurrent {
  /** The resolved configuration. */
  readonly config: Readonly<RecurrentConfig>;
  /** @internal */
  protected _native: NativeRnn | null;
  /** @internal */
  private readonly _specs: { name: string; shape: number[]; offset: number; size: number }[];

  /** @internal */
  protected constructor(cell: CellKind, options: unknown, extraKeys: string[], weights: StateDict | null, what: string) {
    checkOptions(options, 'options', [...BASE_OPTION_KEYS, ...extraKeys]);
    if (options === undefined) throw invalidArg('options', 'an object with inputSize and hiddenSize', options);
    const o = options as Record<string, unknown>;
    const inputSize = positiveInt(o.inputSize, 'options.inputSize');
    const hiddenSize = positiveInt(o.hiddenSize, 'options.hiddenSize');
    const numLayers = positiveInt(o.numLayers, 'options.numLayers', 1);
    const bidirectional = bool(o.bidirectional, 'options.bidirectional', false);
    const batchFirst = bool(o.batchFirst, 'options.batchFirst', false);
    const bias = bool(o.bias, 'options.bias', true);
    const dtype = o.dtype === undefined ? 'float32' : o.dtype;
    if (dtype !== 'float32' && dtype !== 'float64') throw invalidArg('options.dtype', "'float32' or 'float64'", dtype);
    const clip = o.clip === undefined ? 0 : o.clip;
    if (typeof clip !== 'number' || !Number.isFinite(clip) || clip < 0)
      throw invalidArg('options.clip', 'a finite number >= 0 (0 = no clip)', clip);
    let projSize = 0;
    if (cell === 'lstm' && o.projSize !== undefined && o.projSize !== 0) {
      projSize = positiveInt(o.projSize, 'options.projSize');
      if (projSize >= hiddenSize)
        throw invalidArg('options.projSize', `an integer below hiddenSize (${hiddenSize})`, projSize);
    } else if (o.projSize !== undefined && o.projSize !== 0) {
      throw invalidArg('options.projSize', '0 (projection exists for LSTM only)', o.projSize);
    }
    let linearBeforeReset = true;
    if (cell === 'gru') linearBeforeReset = bool(o.linearBeforeReset, 'options.linearBeforeReset', true);
    const peepholes = cell === 'lstm' ? bool(o.peepholes, 'options.peepholes', false) : false;
    const inputForget = cell === 'lstm' ? bool(o.inputForget, 'options.inputForget', false) : false;

    // activations: f (gates), g (candidate / RNN output), h (LSTM cell output)
    const defaults: ActivationSpec[] = ['sigmoid', 'tanh', 'tanh'];
    if (cell === 'rnn') {
      const nl = o.nonlinearity === undefined ? 'tanh' : o.nonlinearity;
      if (nl !== 'tanh' && nl !== 'relu') throw invalidArg('options.nonlinearity', "'tanh' or 'relu'", nl);
      defaults[0] = nl;
    }
    const needed = cell === 'lstm' ? 3 : cell === 'gru' ? 2 : 1;
    let specs: unknown[] = defaults.slice(0, needed);
    if (o.activations !== undefined) {
      if (!Array.isArray(o.activations) || o.activations.length !== needed)
        throw invalidArg(
          'options.activations',
          `an array of ${needed} activation${needed > 1 ? 's' : ''} (${['gate', 'candidate', 'cell output'].slice(0, needed).join(', ')})`,
          o.activations,
        );
      if (cell === 'rnn' && o.nonlinearity !== undefined)
        throw invalidArg('options.activations', 'undefined when nonlinearity is given', o.activations);
      specs = o.activations;
    }
    const acts = specs.map((s, i) => toNativeActivation(s, `options.activations[${i}]`));
    while (acts.length < 3) acts.push({ kind: 1, alpha: 0, beta: 0 });

    const common = {
      cell,
      inputSize,
      hiddenSize,
      projSize,
      numLayers,
      bidirectional,
      batchFirst,
      bias,
      linearBeforeReset,
      clip,
      dtype: dtype as FloatDType,
      peepholes,
      inputForget,
    };
    const nativeCfg: NativeRnnConfig = { ...common, activations: acts as NativeRnnConfig['activations'] };
    this.config = Object.freeze({
      ...common,
      activations: acts.slice(0, needed).map((a) => ({ name: activationName(a.kind), alpha: a.alpha, beta: a.beta })),
    });

    const binding = getBinding();
    // Build the parameter list with a zero-weight probe module is wasteful; compute it here the
    // same way the core does (PyTorch order) and let the native constructor re-check the count.
    this._specs = paramSpecs(this.config);
    const total = this._specs.reduce((n, s) => n + s.size, 0);
    // Weights laid out in the file exactly in parameter order (what rnnx and PyTorch-order writers
    // produce) are used in place: no JS copy of a large model, only a scan for non-finite values.
    const inPlace = weights ? contiguousView(this._specs, weights, dtype) : undefined;
    const flat = inPlace ?? (dtype === 'float64' ? new Float64Array(total) : new Float32Array(total));
    if (weights && !inPlace) {
      fillFromStateDict(flat, this._specs, weights, what);
    } else if (weights && inPlace) {
      checkStateDictNames(this._specs, weights, what);
      const bad = firstNonFinite(flat);
      if (bad >= 0) {
        const sp = this._specs.find((x) => bad >= x.offset && bad < x.offset + x.size) as { name: string; offset: number };
        throw invalidArg(`${what}.${sp.name}[${bad - sp.offset}]`, 'a finite number', flat[bad]);
      }
    } else {
      const seed = o.seed === undefined ? 0x5eed : o.seed;
      if (typeof seed !== 'number' || !Number.isInteger(seed)) throw invalidArg('options.seed', 'an integer', seed);
      const rand = mulberry32(seed);
      const k = 1 / Math.sqrt(hiddenSize);
      for (let i = 0; i < total; i++) flat[i] = (rand() * 2 - 1) * k;
    }
    const precision = checkPrecision(o.precision === undefined ? 'float32' : o.precision, 'options.precision', dtype);
    try {
      this._native = new binding.RnnModule(nativeCfg, flat);
      if (precision !== 'float32') this._native.setPrecision(precision);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Weight precision of inference-only forward passes. */
  get precision(): 'float32' | 'bf16' | 'int8' {
    return this.nativeModule().precision;
  }

  /** Changes the inference weight precision ('float32', 'bf16', 'int8'); training stays float32. */
  setPrecision(precision: 'float32' | 'bf16' | 'int8'): void {
    checkPrecision(precision, 'precision', this.config.dtype);
    try {
      this.nativeModule().setPrecision(precision);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Number of directions (1 or 2). */
  get numDirections(): number {
    return this.config.bidirectional ? 2 : 1;
  }
  /** Width of the hidden state h (projSize when projecting). */
  get stateSize(): number {
    return this.config.projSize > 0 ? this.config.projSize : this.config.hiddenSize;
  }
  /** Width of the output: directions * stateSize. */
  get outputSize(): number {
    return this.numDirections * this.stateSize;
  }
  /** True once disposed. */
  get disposed(): boolean {
    return this._native === null || this._native.disposed;
  }
  /** Bytes of native memory held (weights + workspace). */
  get nativeBytes(): number {
    return this._native && !this._native.disposed ? this._native.nativeBytes : 0;
  }

  /** @internal */
  protected nativeModule(): NativeRnn {
    if (this._native === null || this._native.disposed)
      throw new DisposedError(`This ${this.config.cell.toUpperCase()} is disposed; create a new one`);
    return this._native;
  }

  /** @internal */
  _alloc(n: number): NativeFloatArray {
    return this.config.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  }

  /**
   * @internal An output array the native call writes in full (every element: the native tests run
   * each call on NaN-filled outputs and compare every element).
   * - A small one (up to SLAB_MAX bytes: a stream step's frame, final states) is a view into a shared,
   *   zero-initialised slab. An ArrayBuffer of its own costs Node 1-3 µs (its allocation and the
   *   garbage collection of it), a tenth of a 256-wide LSTM step; a view costs about 0.1 µs.
   * - A large one is taken uninitialized: zeroing it first costs as much as a fast call (C3's 13 MB
   *   output: about 1 ms, a twentieth of an RNN call).
   */
  _allocOut(n: number): NativeFloatArray {
    const f64 = this.config.dtype === 'float64';
    const bytes = n * (f64 ? 8 : 4);
    if (bytes <= SLAB_MAX && n > 0) {
      const size = (bytes + 63) & ~63; // (views start on cache lines)
      if (slab === null || slabUsed + size > SLAB_BYTES) {
        slab = new ArrayBuffer(SLAB_BYTES);
        slabUsed = 0;
      }
      const off = slabUsed;
      slabUsed += size;
      return f64 ? new Float64Array(slab, off, n) : new Float32Array(slab, off, n);
    }
    if (bytes < 1 << 16) return this._alloc(n);
    const buf = Buffer.allocUnsafeSlow(bytes).buffer; // (never a slice of Buffer's shared pool)
    return f64 ? new Float64Array(buf, 0, n) : new Float32Array(buf, 0, n);
  }

  /**
   * @internal The buffers of `out` (a Gradients of this module's backward) to write a backward of
   * `args` into: checked for owner, sizes and overlap with the incoming gradients.
   */
  _gradientBuffers(
    out: unknown,
    args: { x: ArrayLike<number>; hn: ArrayLike<number>; cn: ArrayLike<number> | null },
    paramCount: number,
    inputs: (NativeFloatArray | null)[],
  ): GradientBuffers {
    const b = typeof out === 'object' && out !== null ? (out as { [GRADIENT_BUFFERS]?: GradientBuffers })[GRADIENT_BUFFERS] : undefined;
    if (!b || b.owner !== this)
      throw invalidArg('options.out', "the Gradients of an earlier backward of this module", out);
    const want = (a: NativeFloatArray | null, n: number, what: string) => {
      if ((a?.length ?? 0) !== n)
        throw new ShapeError(`Expected the gradients of a backward with ${what} of ${n} values for options.out but received ${a?.length ?? 0}`, {
          param: 'options.out',
          expected: `${what}: ${n} values`,
          received: `${a?.length ?? 0} values`,
        });
    };
    want(b.dx, args.x.length, 'an input gradient');
    want(b.dh0, args.hn.length, 'an initial-state gradient');
    want(b.dc0, args.cn ? args.cn.length : 0, 'an initial-cell gradient');
    want(b.dw, paramCount, 'weight gradients');
    for (const own of [b.dx, b.dh0, b.dc0, b.dw, b.dhSteps])
      for (const other of inputs)
        if (own && other && overlaps(own, other))
          throw invalidArg('options.out', 'gradients sharing no memory with grads (they are written while grads is read)', out);
    return b;
  }

  /** @internal */
  _checkDType(data: unknown, param: string): void {
    const want = this.config.dtype === 'float64' ? Float64Array : Float32Array;
    if (!(data instanceof want))
      throw dtypeError(param, `${this.config.dtype} data (${want.name}), like the model`, data);
  }

  /** @internal Checks a tensor's dtype and exact shape; returns its data. */
  _checkTensor(t: unknown, param: string, shape: number[]): NativeFloatArray {
    if (!Tensor.isTensor(t)) throw invalidArg(param, `a Tensor of shape ${formatShape(shape)}`, t);
    this._checkDType(t.data, param);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw shapeError(param, shape, t.shape);
    return t.data as NativeFloatArray;
  }

  /** The parameters under PyTorch's names (copies). */
  stateDict(): Record<string, FloatTensor> {
    const m = this.nativeModule();
    const flat = this._alloc(m.paramCount);
    try {
      m.getWeights(flat);
    } catch (e) {
      throw fromNative(e);
    }
    const out: Record<string, FloatTensor> = {};
    for (const s of this._specs) out[s.name] = new Tensor(flat.subarray(s.offset, s.offset + s.size), s.shape) as FloatTensor;
    return out;
  }

  /** Replaces every parameter (same names and shapes as {@link stateDict}). */
  loadStateDict(stateDict: StateDict): void {
    const m = this.nativeModule();
    const flat = this._alloc(m.paramCount);
    fillFromStateDict(flat, this._specs, stateDict, 'stateDict');
    try {
      m.setWeights(flat);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Parameter names and shapes, in PyTorch's state-dict order. */
  parameterShapes(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const s of this._specs) out[s.name] = [...s.shape];
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // forward

  private prepare(x: unknown, options: unknown, fn: string) {
    checkOptions(options, 'options', ['h0', 'c0', 'lengths', 'requiresGrad', 'returnSequences', 'out']);
    const o = (options ?? {}) as ForwardOptions;
    const cfg = this.config;
    const m = this.nativeModule();
    if (!Tensor.isTensor(x)) throw invalidArg('x', 'a Tensor', x);
    this._checkDType(x.data, 'x');
    const s = x.shape;
    const I = cfg.inputSize;
    let T: number;
    let B: number;
    let unbatched = false;
    if (s.length === 2) {
      unbatched = true;
      T = s[0] as number;
      B = 1;
      if (s[1] !== I) throw shapeError('x', `[T, ${I}] (or [${cfg.batchFirst ? 'B, T' : 'T, B'}, ${I}])`, s);
    } else if (s.length === 3) {
      if (s[2] !== I) throw shapeError('x', cfg.batchFirst ? `[B, T, ${I}]` : `[T, B, ${I}]`, s);
      T = (cfg.batchFirst ? s[1] : s[0]) as number;
      B = (cfg.batchFirst ? s[0] : s[1]) as number;
    } else {
      throw shapeError('x', cfg.batchFirst ? `[B, T, ${I}]` : `[T, B, ${I}]`, s);
    }
    if (T < 1) throw shapeError('x', `at least 1 time step (${cfg.batchFirst ? '[B, T, I]' : '[T, B, I]'})`, s);
    if (B < 1) throw shapeError('x', 'a batch of at least 1', s);
    const LD = cfg.numLayers * this.numDirections;
    const R = this.stateSize;
    const H = cfg.hiddenSize;
    const hShape = unbatched ? [LD, R] : [LD, B, R];
    const cShape = unbatched ? [LD, H] : [LD, B, H];
    const h0 = o.h0 === undefined ? null : this._checkTensor(o.h0, 'h0', hShape);
    let c0: NativeFloatArray | null = null;
    if (o.c0 !== undefined) {
      if (cfg.cell !== 'lstm')
        throw invalidArg('c0', `undefined (a ${cfg.cell.toUpperCase()} has no cell state)`, o.c0);
      c0 = this._checkTensor(o.c0, 'c0', cShape);
    }
    let lengths: Int32Array | null = null;
    if (o.lengths !== undefined) {
      const l = o.lengths as unknown;
      if (!(Array.isArray(l) || l instanceof Int32Array))
        throw invalidArg('lengths', `an array or Int32Array of ${B} integers in 1..${T}`, l);
      if (l.length !== B) throw new ShapeError(`Expected ${B} lengths (one per sequence) for lengths but received ${describe(l)}`, { param: 'lengths', expected: `${B} values`, received: describe(l) });
      lengths = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        const v = (l as ArrayLike<unknown>)[b];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > T)
          throw invalidArg(`lengths[${b}]`, `an integer in 1..${T} (the sequence length)`, v);
        lengths[b] = v;
      }
    }
    const requiresGrad = o.requiresGrad === undefined ? false : o.requiresGrad;
    assertBoolean(requiresGrad, 'options.requiresGrad');
    const returnSequences = o.returnSequences === undefined ? true : o.returnSequences;
    assertBoolean(returnSequences, 'options.returnSequences');
    if (!returnSequences && requiresGrad)
      throw invalidArg('options.returnSequences', 'true (or omitted) with requiresGrad: a tape backpropagates through every step\'s output', false);
    const outShape = returnSequences
      ? unbatched ? [T, this.outputSize] : cfg.batchFirst ? [B, T, this.outputSize] : [T, B, this.outputSize]
      : unbatched ? [this.outputSize] : [B, this.outputSize];
    let out: Tensor | null = null;
    if (o.out !== undefined) {
      const od = this._checkTensor(o.out, 'options.out', outShape);
      for (const [name, other] of [['x', x.data], ['h0', h0], ['c0', c0]] as const)
        if (other && overlaps(od, other as NativeFloatArray))
          throw invalidArg('options.out', `a tensor sharing no memory with ${name} (it is written while ${name} is read)`, o.out);
      out = o.out;
    }
    // (returnSequences false: no per-step outputs at all, the native call writes only the states)
    const y = !returnSequences ? null : out ? (out.data as NativeFloatArray) : this._allocOut(T * B * this.outputSize);
    const hn = this._allocOut(LD * B * R);
    const cn = cfg.cell === 'lstm' ? this._allocOut(LD * B * H) : null;
    void fn;
    return {
      m,
      args: { seqLen: T, batch: B, x: x.data as NativeFloatArray, h0, c0, lengths, y, hn, cn, requiresGrad },
      shapes: { out: outShape, h: hShape, c: cShape, x: [...s] },
      requiresGrad,
      returnSequences,
      out,
      B,
      hadH0: h0 !== null,
      hadC0: c0 !== null,
    };
  }

  /** Each sequence's last output, [B, D*R]: the top layer's final states of every direction. */
  private lastOutputs(hn: NativeFloatArray, B: number, into: Tensor | null): NativeFloatArray {
    const D = this.numDirections;
    const R = this.stateSize;
    const top = (this.config.numLayers - 1) * D;
    const out = into ? (into.data as NativeFloatArray) : this._allocOut(B * D * R);
    for (let d = 0; d < D; d++)
      for (let b = 0; b < B; b++) out.set(hn.subarray(((top + d) * B + b) * R, ((top + d) * B + b + 1) * R), (b * D + d) * R);
    return out;
  }

  private result(p: ReturnType<Recurrent['prepare']>, tape: NativeTape | undefined): ForwardResult | Tape {
    // (into `out` when given: the native call wrote the sequence there, lastOutputs the last outputs)
    const data = p.returnSequences ? (p.args.y as NativeFloatArray) : this.lastOutputs(p.args.hn, p.B, p.out);
    const out: ForwardResult = {
      output: (p.out ?? new Tensor(data, p.shapes.out)) as FloatTensor,
      h: new Tensor(p.args.hn, p.shapes.h) as FloatTensor,
    };
    if (p.args.cn) out.c = new Tensor(p.args.cn, p.shapes.c) as FloatTensor;
    if (!p.requiresGrad || !tape) return out;
    return this.makeTape(out, tape, p);
  }

  private makeTape(out: ForwardResult, tape: NativeTape, p: ReturnType<Recurrent['prepare']>): Tape {
    const self = this;
    const cfg = this.config;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        tape.release();
      }
    };
    const t: Tape = {
      ...out,
      get disposed() {
        return released || tape.released;
      },
      dispose: release,
      backward(grads?: BackwardGrads, options?: BackwardOptions): Gradients {
        checkOptions(grads, 'grads', ['output', 'h', 'c']);
        checkOptions(options, 'options', ['retain', 'stateGrads', 'out']);
        const retain = options?.retain ?? false;
        assertBoolean(retain, 'options.retain');
        const wantSteps = options?.stateGrads ?? false;
        assertBoolean(wantSteps, 'options.stateGrads');
        if (released || tape.released)
          throw new DisposedError(
            'This tape was released (backward frees it unless called with { retain: true }); run forward again',
          );
        const m = self.nativeModule();
        const g: BackwardGrads = grads ?? {};
        const gy = g.output === undefined ? null : self._checkTensor(g.output, 'grads.output', p.shapes.out);
        const ghn = g.h === undefined ? null : self._checkTensor(g.h, 'grads.h', p.shapes.h);
        let gcn: NativeFloatArray | null = null;
        if (g.c !== undefined) {
          if (cfg.cell !== 'lstm') throw invalidArg('grads.c', `undefined (a ${cfg.cell.toUpperCase()} has no cell state)`, g.c);
          gcn = self._checkTensor(g.c, 'grads.c', p.shapes.c);
        }
        const T = p.args.seqLen;
        const B = p.args.batch;
        const LD = cfg.numLayers * self.numDirections;
        const nSteps = LD * T * B * self.stateSize;
        const reuse = options?.out === undefined ? null : self._gradientBuffers(options.out, p.args, m.paramCount, [gy, ghn, gcn]);
        const dx = reuse?.dx ?? self._allocOut(p.args.x.length);
        const dh0 = reuse?.dh0 ?? self._allocOut(p.args.hn.length);
        const dc0 = reuse?.dc0 ?? (p.args.cn ? self._allocOut(p.args.cn.length) : null);
        const dw = reuse?.dw ?? self._allocOut(m.paramCount);
        const dhSteps = !wantSteps ? null : reuse?.dhSteps?.length === nSteps ? reuse.dhSteps : self._allocOut(nSteps);
        try {
          m.backward(tape, { gy, ghn, gcn, dx, dh0, dc0, dw, accumulate: false, dhSteps });
        } catch (e) {
          throw fromNative(e);
        }
        if (!retain) release();
        const weights: Record<string, FloatTensor> = {};
        for (const s of self._specs) weights[s.name] = new Tensor(dw.subarray(s.offset, s.offset + s.size), s.shape) as FloatTensor;
        const res: Gradients = {
          input: new Tensor(dx, p.shapes.x) as FloatTensor,
          h0: new Tensor(dh0, p.shapes.h) as FloatTensor,
          weights,
        };
        if (dc0) res.c0 = new Tensor(dc0, p.shapes.c) as FloatTensor;
        if (dhSteps) res.stateGrads = new Tensor(dhSteps, [LD, T, B, self.stateSize]) as FloatTensor;
        const store: GradientBuffers = { owner: self, dx, dh0, dc0, dw, dhSteps };
        Object.defineProperty(res, GRADIENT_BUFFERS, { value: store });
        return res;
      },
    };
    return t;
  }

  /**
   * Runs the stack on the calling thread.
   * @param x [T, B, I] ([B, T, I] with batchFirst), or [T, I] for one unbatched sequence
   */
  forward(x: Tensor, options: ForwardOptions & { requiresGrad: true }): Tape;
  forward(x: Tensor, options?: ForwardOptions): ForwardResult;
  forward(x: Tensor, options?: ForwardOptions): ForwardResult | Tape {
    const p = this.prepare(x, options, 'forward');
    let tape: NativeTape | undefined;
    try {
      tape = p.m.forward(p.args);
    } catch (e) {
      throw fromNative(e);
    }
    return this.result(p, tape);
  }

  /**
   * The same as {@link forward} on a worker thread, off the event loop. The input tensors must
   * not be modified until the promise settles. One call at a time per module (a second call
   * while one is running rejects with BusyError).
   */
  forwardAsync(x: Tensor, options: ForwardOptions & { requiresGrad: true }): Promise<Tape>;
  forwardAsync(x: Tensor, options?: ForwardOptions): Promise<ForwardResult>;
  async forwardAsync(x: Tensor, options?: ForwardOptions): Promise<ForwardResult | Tape> {
    const callSite = new Error();
    const p = this.prepare(x, options, 'forwardAsync');
    let tape: NativeTape | undefined;
    try {
      tape = await p.m.forwardAsync(p.args);
    } catch (e) {
      throw fromNative(e, callSite);
    }
    return this.result(p, tape);
  }

  /**
   * A stream for step-by-step inference (unidirectional stacks): the state stays natively
   * between steps, so each step costs one small native call.
   */
  stream(options?: StreamOptions): RecurrentStream {
    checkOptions(options, 'options', ['batch', 'h0', 'c0']);
    const o: StreamOptions = options ?? {};
    const batch = positiveInt(o.batch, 'options.batch', 1);
    if (this.config.bidirectional)
      throw new InvalidArgumentError(
        'Expected a unidirectional model for stream() but this one is bidirectional (the reverse direction needs the whole sequence); use forward()',
        { param: 'bidirectional', expected: 'false', received: 'true' },
      );
    const m = this.nativeModule();
    let ns: NativeStream;
    try {
      ns = m.createStream(batch);
    } catch (e) {
      throw fromNative(e);
    }
    const s = new RecurrentStream(this, ns, batch);
    if (o.h0 !== undefined || o.c0 !== undefined) {
      const L = this.config.numLayers;
      const h = o.h0 ?? new Tensor(this._alloc(L * batch * this.stateSize), [L, batch, this.stateSize]);
      const c =
        this.config.cell === 'lstm'
          ? (o.c0 ?? new Tensor(this._alloc(L * batch * this.config.hiddenSize), [L, batch, this.config.hiddenSize]))
          : o.c0;
      s.restore({ h, c });
    }
    return s;
  }

  /** Frees native memory now (the GC would otherwise do it later). Idempotent. In-flight async
   * calls finish first; their results stay valid. */
  dispose(): void {
    if (this._native) {
      this._native.dispose();
      this._native = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** PyTorch-named parameters in state-dict order; mirrors rnnx::param_specs (native/src/core/config.cc). */
export function paramSpecs(cfg: RecurrentConfig): { name: string; shape: number[]; offset: number; size: number }[] {
  const G = cfg.cell === 'lstm' ? 4 : cfg.cell === 'gru' ? 3 : 1;
  const H = cfg.hiddenSize;
  const R = cfg.projSize > 0 ? cfg.projSize : H;
  const D = cfg.bidirectional ? 2 : 1;
  const out: { name: string; shape: number[]; offset: number; size: number }[] = [];
  let off = 0;
  const push = (name: string, shape: number[]) => {
    const size = shapeSize(shape);
    out.push({ name, shape, offset: off, size });
    off += size;
  };
  for (let l = 0; l < cfg.numLayers; l++) {
    const inSize = l === 0 ? cfg.inputSize : D * R;
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
      push(`weight_ih${sfx}`, [G * H, inSize]);
      push(`weight_hh${sfx}`, [G * H, R]);
      if (cfg.bias) {
        push(`bias_ih${sfx}`, [G * H]);
        push(`bias_hh${sfx}`, [G * H]);
      }
      if (cfg.projSize > 0) push(`weight_hr${sfx}`, [cfg.projSize, H]);
      if (cfg.peepholes) push(`weight_p${sfx}`, [3 * H]);
    }
  }
  return out;
}

/**
 * The parameters as one view, when every tensor of `sd` is a typed-array view of `dtype` on the same
 * buffer, with the right shape, back to back in spec order; else undefined.
 */
function contiguousView(
  specs: { name: string; shape: number[]; offset: number; size: number }[],
  sd: StateDict,
  dtype: string,
): Float32Array | Float64Array | undefined {
  if (!(sd instanceof Map) && !isPlainObject(sd)) return undefined;
  const get = (k: string): unknown => (sd instanceof Map ? sd.get(k) : (sd as Record<string, unknown>)[k]);
  const count = sd instanceof Map ? sd.size : Object.keys(sd).length;
  if (count !== specs.length || specs.length === 0) return undefined;
  const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
  let buffer: ArrayBufferLike | undefined;
  let start = 0;
  let next = 0;
  for (const s of specs) {
    const v = get(s.name);
    if (!Tensor.isTensor(v) || !(v.data instanceof Ctor)) return undefined;
    if (v.shape.length !== s.shape.length || v.shape.some((d, i) => d !== s.shape[i]) || v.data.length !== s.size) return undefined;
    if (buffer === undefined) {
      buffer = v.data.buffer;
      start = v.data.byteOffset;
      next = start;
    }
    if (v.data.buffer !== buffer || v.data.byteOffset !== next) return undefined;
    next += v.data.byteLength;
  }
  if (buffer === undefined) return undefined;
  return new Ctor(buffer as ArrayBuffer, start, (next - start) / Ctor.BYTES_PER_ELEMENT);
}

/** Checks that `sd` has exactly the names of `specs` (the messages of fillFromStateDict). */
function checkStateDictNames(specs: { name: string; shape: number[] }[], sd: StateDict, what: string): void {
  const names = sd instanceof Map ? [...sd.keys()] : Object.keys(sd as Record<string, unknown>);
  const known = new Set(specs.map((s) => s.name));
  for (const name of names)
    if (!known.has(name))
      throw new InvalidArgumentError(`Unexpected weight '${name}' in ${what}; this configuration has ${[...known].join(', ')}`, {
        param: `${what}.${name}`,
        expected: "one of the configuration's parameter names",
        received: `'${name}'`,
      });
}

function fillFromStateDict(
  flat: Float32Array | Float64Array,
  specs: { name: string; shape: number[]; offset: number; size: number }[],
  sd: StateDict,
  what: string,
): void {
  const entries: [string, unknown][] =
    sd instanceof Map ? [...sd.entries()] : isPlainObject(sd) ? Object.entries(sd) : (() => {
      throw invalidArg(what, 'an object (or Map) of weights under PyTorch names', sd);
    })();
  const byName = new Map(entries);
  const known = new Set(specs.map((s) => s.name));
  for (const [name] of entries) {
    if (!known.has(name)) {
      throw new InvalidArgumentError(
        `Unexpected weight '${name}' in ${what}; this configuration has ${[...known].join(', ')}`,
        { param: `${what}.${name}`, expected: 'one of the configuration\'s parameter names', received: `'${name}'` },
      );
    }
  }
  for (const s of specs) {
    const param = `${what}.${s.name}`;
    if (!byName.has(s.name))
      throw new InvalidArgumentError(`Missing weight '${s.name}' (shape ${formatShape(s.shape)}) in ${what}`, {
        param,
        expected: `a tensor of shape ${formatShape(s.shape)}`,
        received: 'nothing',
      });
    const v = byName.get(s.name);
    let data: ArrayLike<number>;
    if (Tensor.isTensor(v)) {
      if (v.shape.length !== s.shape.length || v.shape.some((d, i) => d !== s.shape[i])) throw shapeError(param, s.shape, v.shape);
      if (v.dtype === 'int32') throw dtypeError(param, 'float32 or float64 data', v.data);
      data = v.data;
    } else if (v instanceof Float32Array || v instanceof Float64Array || Array.isArray(v)) {
      if (v.length !== s.size) throw shapeError(param, `${s.size} values (shape ${formatShape(s.shape)})`, describe(v));
      data = v as ArrayLike<number>;
    } else {
      throw invalidArg(param, `a Tensor of shape ${formatShape(s.shape)}`, v);
    }
    if (data instanceof Float32Array || data instanceof Float64Array) {
      // typed data: one bulk copy, then one tight scan for non-finite values (a 100 MB model loads
      // in tens of milliseconds instead of seconds)
      flat.set(data.length === s.size ? data : data.subarray(0, s.size), s.offset);
      const bad = firstNonFinite(flat, s.offset, s.offset + s.size);
      if (bad >= 0) throw invalidArg(`${param}[${bad - s.offset}]`, 'a finite number', flat[bad]);
      continue;
    }
    for (let i = 0; i < s.size; i++) {
      const x = data[i];
      if (typeof x !== 'number' || !Number.isFinite(x)) throw invalidArg(`${param}[${i}]`, 'a finite number', x);
      flat[s.offset + i] = x;
    }
  }
}

/** Index of the first NaN or ±Infinity in a[from, to), or -1. */
export function firstNonFinite(a: Float32Array | Float64Array, from = 0, to = a.length): number {
  for (let i = from; i < to; i++) {
    const x = a[i] as number;
    if (x - x !== 0) return i; // NaN - NaN and ±Inf - ±Inf are NaN
  }
  return -1;
}
