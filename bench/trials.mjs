import os from 'node:os';

/**
 * The benchmark configurations of shared/bench/CONFIGS.md, declaratively.
 *
 * Sizes: I input, H hidden, B batch, T steps. `mode`:
 *   - 'stream'  one step with the state carried between calls (rnnx `stream().step`)
 *   - 'forward' a whole sequence; `needs` says what the caller reads ('h' = final h, 'output' = every output)
 *   - 'train'   forward + BPTT of loss = sum(outputs); gradients of every weight and the input
 *
 * `prefix` caps the steps a slow engine runs (its time is then scaled by T / prefix and shown with '~',
 * as CONFIGS.md does); `quickPrefix` is the cap under --quick. Keys: engine ids (see peers/).
 */

/** FLOPs of one call as CONFIGS.md defines them: LSTM 2·B·T·4H·(I+H), GRU 3H, RNN 1H; training 3× forward. */
export function flopsOf(t) {
  const gates = { lstm: 4, gru: 3, rnn: 1 }[t.cell];
  const fwd = 2 * t.B * t.T * gates * t.H * (t.I + t.H);
  return t.mode === 'train' ? 3 * fwd : fwd;
}

export const TRIALS = [
  {
    id: 'C1',
    group: 'C1',
    label: 'C1 LSTM step',
    cell: 'lstm',
    I: 256, H: 256, B: 1, T: 1,
    mode: 'stream',
    needs: ['h', 'c'],
    what: 'one streaming step (an audio frame), state carried between calls',
  },
  ...['lstm', 'gru', 'rnn'].map((cell) => ({
    id: `C2-${cell}`,
    group: 'C2',
    label: `C2 ${cell.toUpperCase()}`,
    cell,
    I: 128, H: 256, B: 1, T: 32,
    mode: 'forward',
    needs: ['h'],
    what: 'one utterance through an intent encoder',
  })),
  ...['lstm', 'gru', 'rnn'].map((cell) => ({
    id: `C3-${cell}`,
    group: 'C3',
    label: `C3 ${cell.toUpperCase()}`,
    cell,
    I: 512, H: 512, B: 64, T: 100,
    mode: 'forward',
    needs: ['output'],
    what: 'batch throughput',
    reportFlops: true,
    // tfjs cpu needs ~0.4-1.8 s per step here; the scalar kernels ~0.1 s per step.
    prefix: { 'tfjs-cpu': { lstm: 2, gru: 3, rnn: 5 }[cell], 'tfjs-wasm': 10, 'rnnx-scalar': 10 },
    quickPrefix: { 'tfjs-cpu': 1, 'tfjs-wasm': 2, 'rnnx-scalar': 2 },
  })),
  {
    id: 'C5',
    group: 'C5',
    label: 'C5 GRU',
    cell: 'gru',
    I: 128, H: 128, B: 1, T: 1000,
    mode: 'forward',
    needs: ['h'],
    what: 'a long sequence (10 s of audio frames)',
    // tfjs's GRU slices its recurrent kernel on every step (~30 ms per step on the cpu backend).
    prefix: { 'tfjs-cpu': 100, 'tfjs-wasm': 500 },
    quickPrefix: { 'tfjs-cpu': 25, 'tfjs-wasm': 100 },
  },
  {
    id: 'C4',
    group: 'C4',
    label: 'C4 LSTM train',
    cell: 'lstm',
    I: 256, H: 256, B: 32, T: 50,
    mode: 'train',
    needs: ['grads'],
    what: 'one training step: forward + BPTT, loss = sum of outputs, gradients of all weights and the input',
    reportFlops: true,
    prefix: { 'tfjs-cpu': 3, 'tfjs-wasm': 10, 'rnnx-scalar': 10 },
    // (tfjs cannot take the gradient of a one-step sequence: its stack() gradient throws)
    quickPrefix: { 'tfjs-cpu': 2, 'tfjs-wasm': 3, 'rnnx-scalar': 3 },
  },
];

/** Groups in the order CONFIGS.md lists them; each runs in its own child process. */
export const GROUPS = ['C1', 'C2', 'C3', 'C5', 'C4'];

/** "All cores": the thread count of the multi-threaded peer columns (2 on the reference machine). */
export const ALL = Math.max(2, os.availableParallelism());

/** Engine columns, in table order. `base` marks rnnx's own variants. */
export const ENGINES = [
  { id: 'rnnx', label: 'rnnx', base: true },
  { id: 'rnnx-1t', label: 'rnnx 1t', base: true },
  { id: 'rnnx-scalar', label: 'rnnx scalar', base: true },
  { id: 'ort-1t', label: 'ORT 1t', peer: 'ort' },
  { id: 'ort-all', label: `ORT ${ALL}t`, peer: 'ort' },
  { id: 'tfjs-cpu', label: 'tfjs cpu', peer: 'tfjs' },
  { id: 'tfjs-wasm', label: 'tfjs wasm', peer: 'tfjs' },
  { id: 'torch-1t', label: 'PyTorch 1t', peer: 'torch' },
  { id: 'torch-all', label: `PyTorch ${ALL}t`, peer: 'torch' },
];
