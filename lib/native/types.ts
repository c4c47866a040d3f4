/**
 * @internal The exact shape of what `rnnx.node` exports. native/src/addon/addon.cc registers
 * exactly these names; keep the two in sync. Users never see these objects: lib/ wraps them.
 *
 * Every TypedArray passed in is used in place (no copy) and must not be modified or transferred
 * until the call (or, for async calls, the promise) settles. Every output array is allocated by
 * the caller with the exact length the shape implies; the native side checks every length and
 * element type and throws a coded error (`err.code`, see lib/errors.ts) on mismatch.
 */

export type NativeDType = 'float32' | 'float64';
export type NativeFloatArray = Float32Array | Float64Array;

/** Activation ids, in the order of rnnx::Activation (native/include/rnnx/cell.h). */
export const ACTIVATION_IDS = {
  sigmoid: 0,
  tanh: 1,
  relu: 2,
  hard_sigmoid: 3,
  affine: 4,
  leaky_relu: 5,
  thresholded_relu: 6,
  scaled_tanh: 7,
  elu: 8,
  softsign: 9,
  softplus: 10,
} as const;

export interface NativeActivation {
  kind: number; // one of ACTIVATION_IDS
  alpha: number;
  beta: number;
}

export interface NativeRnnConfig {
  cell: 'rnn' | 'lstm' | 'gru';
  inputSize: number;
  hiddenSize: number;
  projSize: number; // 0 = none
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  bias: boolean;
  linearBeforeReset: boolean; // GRU: true = PyTorch / ONNX lbr=1 / Keras reset_after
  activations: [NativeActivation, NativeActivation, NativeActivation]; // f, g, h (ONNX order)
  clip: number; // 0 = none
  dtype: NativeDType;
  /** LSTM only (ONNX): peephole weights weight_p_l{k} [3H] (i, f, o). Optional, default false. */
  peepholes?: boolean;
  /** LSTM only (ONNX input_forget): f = 1 - i. Optional, default false. */
  inputForget?: boolean;
}

export interface NativeParamSpec {
  name: string; // PyTorch name, e.g. weight_ih_l0_reverse
  shape: number[]; // [rows, cols] or [rows]
  offset: number; // element offset in the flat weight buffer
  size: number;
}

/** Arguments of one forward call. Shapes as in native/include/rnnx/rnn.h. */
export interface NativeForwardArgs {
  seqLen: number;
  batch: number;
  x: NativeFloatArray;
  h0: NativeFloatArray | null;
  c0: NativeFloatArray | null;
  lengths: Int32Array | null;
  y: NativeFloatArray | null; // output, written (null without requiresGrad: no per-step outputs)
  hn: NativeFloatArray; // output, written
  cn: NativeFloatArray | null; // output (LSTM), written
  requiresGrad: boolean;
}

export interface NativeBackwardArgs {
  gy: NativeFloatArray | null;
  ghn: NativeFloatArray | null;
  gcn: NativeFloatArray | null;
  dx: NativeFloatArray; // written
  dh0: NativeFloatArray | null; // written
  dc0: NativeFloatArray | null; // written
  dw: NativeFloatArray; // written, flat like the weights
  accumulate: boolean; // add into dw instead of overwriting
  /** Optional output: dL/dh_t per step, [L*D, T, B, R] time-major, zero at padded steps. */
  dhSteps?: NativeFloatArray | null;
}

/** A recorded forward pass (holds its native buffers until release() or GC). */
export interface NativeTape {
  /** Frees the native buffers (returning them to the model's pool). Idempotent. */
  release(): void;
  readonly released: boolean;
}

/** Step-by-step state kept natively. Unidirectional models only. */
export interface NativeStream {
  /** x [B, I] → y [B, R]; updates the state. Synchronous (one step is tiny work). */
  step(x: NativeFloatArray, y: NativeFloatArray): void;
  /** Copies the state out: h [L, B, R], c [L, B, H] (c null for non-LSTM). */
  getState(h: NativeFloatArray, c: NativeFloatArray | null): void;
  /** Replaces the state. */
  setState(h: NativeFloatArray, c: NativeFloatArray | null): void;
  /** Zeros the state. */
  reset(): void;
  dispose(): void;
  readonly disposed: boolean;
  readonly batch: number;
}

export interface NativeRnn {
  paramSpecs(): NativeParamSpec[];
  readonly paramCount: number;
  /** Copies the weights into `out` (length paramCount). */
  getWeights(out: NativeFloatArray): void;
  /** Replaces the weights (length paramCount). */
  setWeights(w: NativeFloatArray): void;
  /** Weight precision of inference-only forward passes (float32 models only for bf16/int8). */
  setPrecision(p: 'float32' | 'bf16' | 'int8'): void;
  readonly precision: 'float32' | 'bf16' | 'int8';
  /** Synchronous forward; returns a tape when requiresGrad. */
  forward(args: NativeForwardArgs): NativeTape | undefined;
  /** The same on a libuv worker; outputs are written before the promise resolves. */
  forwardAsync(args: NativeForwardArgs): Promise<NativeTape | undefined>;
  /** BPTT through `tape` (made by this model). */
  backward(tape: NativeTape, args: NativeBackwardArgs): void;
  createStream(batch: number): NativeStream;
  /** Frees native memory; waits for nothing: in-flight async work keeps its own reference and the
   * memory is freed when it settles. Idempotent. */
  dispose(): void;
  readonly disposed: boolean;
  readonly busy: boolean;
  readonly nativeBytes: number;
}

export interface NativeCpuInfo {
  selected: string; // e.g. 'scalar'
  supported: string[];
  compiled: string[];
}

export interface NativeCudaInfo {
  compiled: boolean;
  available: boolean;
  devices: { name: string; memory: number; computeCapability: string }[];
  reason: string;
}

export interface NativeBinding {
  readonly version: string;
  cpuInfo(): NativeCpuInfo;
  /** Lowers the ISA ('scalar' | 'avx2' | 'avx512' | 'neon'); raising past support throws. */
  setCpuIsa(isa: string): void;
  cudaProbe(): NativeCudaInfo;
  setThreads(n: number): void;
  getThreads(): number;
  RnnModule: new (config: NativeRnnConfig, weights: NativeFloatArray) => NativeRnn;
  ModelModule: new (spec: NativeModelSpec, params: NativeFloatArray) => NativeModel;
  /** Live native objects (modules + tapes + streams); for leak tests. */
  liveObjects(): number;
  /** Multiply-add peak of the selected ISA on `threads` threads (GFLOP/s); blocks `seconds`. */
  _fmaPeak(threads: number, seconds: number): number;
  /** One-way latency of a handoff between two pool threads (ns; 0 with one thread); blocks ~`rounds` µs. */
  _handoffNs(rounds: number): number;
}

// ---- sequential models (native/src/addon/addon_model.cc) --------------------------------------

export type NativeModelLayer =
  | { type: 'embedding'; name: string; numEmbeddings: number; embeddingDim: number; paddingIdx: number }
  | { type: 'dropout'; p: number }
  | { type: 'recurrent'; name: string; rnn: NativeRnnConfig; dropout: number }
  | { type: 'pool'; mode: 'last' | 'mean' | 'max' | 'meanmax' }
  | { type: 'dense'; name: string; inFeatures: number; outFeatures: number; activation: 'none' | 'relu' | 'tanh' | 'sigmoid'; bias: boolean }
  | { type: 'softmax' };

export interface NativeModelSpec {
  dtype: NativeDType;
  input: { type: 'ids' } | { type: 'features'; size: number };
  layers: NativeModelLayer[];
}

export interface NativeModelParam {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  decay: boolean;
}

/** One batch: ids [B, T] (Int32) or features [B, T, F]; lengths [B]; recurrent state in/out. */
export interface NativeModelBatch {
  batch: number;
  seqLen: number;
  ids?: Int32Array;
  features?: NativeFloatArray;
  lengths?: Int32Array | null;
  stateIn?: NativeFloatArray | null;
  wantState?: boolean;
}

export interface NativeLoss {
  kind: 'crossEntropy' | 'mse';
  classTargets?: Int32Array; // [B] or [B, T]; -1 = ignore
  valueTargets?: NativeFloatArray; // [rows, O]
  labelSmoothing: number;
}

export interface NativeOptim {
  kind: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clipNorm: number;
  clipValue: number;
  /** > 0: keep a moving average of the parameters with this decay. */
  ema?: number;
}

export interface NativeStepResult {
  loss: number;
  count: number;
  correct: number;
  gradNorm: number;
}

export interface NativeModel {
  params(): NativeModelParam[];
  readonly paramCount: number;
  readonly outputSize: number;
  readonly perStep: boolean;
  stateSize(batch: number): number;
  getParams(): NativeFloatArray;
  setParams(p: NativeFloatArray): void;
  forward(b: NativeModelBatch): { output: NativeFloatArray; state?: NativeFloatArray };
  forwardAsync(b: NativeModelBatch): Promise<{ output: NativeFloatArray; state?: NativeFloatArray }>;
  evaluateAsync(b: NativeModelBatch, loss: NativeLoss): Promise<NativeStepResult & { output: NativeFloatArray }>;
  trainStep(b: NativeModelBatch, loss: NativeLoss, optim: NativeOptim, seed: number): NativeStepResult & { state?: NativeFloatArray };
  trainStepAsync(b: NativeModelBatch, loss: NativeLoss, optim: NativeOptim, seed: number): Promise<NativeStepResult & { state?: NativeFloatArray }>;
  gradients(b: NativeModelBatch, loss: NativeLoss, seed: number): NativeStepResult & { grads: NativeFloatArray };
  getOptimState(): { step: number; slots: NativeFloatArray[] };
  setOptimState(kind: 'sgd' | 'adam' | 'adamw', step: number, slots: NativeFloatArray[]): void;
  getEma(): NativeFloatArray | null;
  setEma(p: NativeFloatArray): void;
  dispose(): void;
  readonly disposed: boolean;
  readonly busy: boolean;
  readonly nativeBytes: number;
}
