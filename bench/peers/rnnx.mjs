/**
 * rnnx itself (the library under test, loaded from the repository's dist/ and native build):
 * layers with seeded weights, the reference outputs every peer is checked against, and the timed calls
 * (sequence forward, streaming step, training step = forward + BPTT of loss = sum(outputs)).
 */
import { LSTM, GRU, RNN, Tensor, getBackendInfo, setThreads, setCpuIsa } from '../../dist/index.js';
import { getBinding } from '../../dist/native/binding.js';

export { getBackendInfo, setThreads, setCpuIsa };

const CLASSES = { lstm: LSTM, gru: GRU, rnn: RNN };

/** The trial's layer with seeded weights (rnnx's own PyTorch-style init). */
export function makeLayer(trial, seed) {
  return new CLASSES[trial.cell]({ inputSize: trial.I, hiddenSize: trial.H, seed });
}

/** The same weights in another layer (e.g. a GRU with linearBeforeReset: false). */
export function layerFrom(trial, sd, extra = {}) {
  return CLASSES[trial.cell].fromStateDict(sd, { inputSize: trial.I, hiddenSize: trial.H, ...extra });
}

/** { name: Float32Array } of a layer's PyTorch-layout weights. */
export function plainStateDict(layer) {
  return Object.fromEntries(Object.entries(layer.stateDict()).map(([k, v]) => [k, v.data]));
}

/**
 * Measured FMA GFLOP/s of the selected ISA at `threads` (the binding's _fmaPeak), the best of `tries`
 * short runs (a busy machine only ever lowers it), or null when the binding has no _fmaPeak.
 */
export function fmaPeak(threads, seconds = 0.2, tries = 3) {
  const b = getBinding();
  if (typeof b._fmaPeak !== 'function') return null;
  let best = null;
  for (let i = 0; i < tries; i++) {
    const v = b._fmaPeak(threads, seconds);
    if (Number.isFinite(v) && (best === null || v > best)) best = v;
  }
  return best;
}

/**
 * One-way latency (ns) of a handoff between two of rnnx's pool threads (the binding's _handoffNs),
 * the median of `tries` measurements of `rounds` round trips; null with one thread or without it.
 */
export function handoffNs(rounds = 20000, tries = 3) {
  const b = getBinding();
  if (typeof b._handoffNs !== 'function') return null;
  const v = [];
  for (let i = 0; i < tries; i++) v.push(b._handoffNs(rounds));
  v.sort((a, c) => a - c);
  const m = v[Math.floor(v.length / 2)];
  return Number.isFinite(m) && m > 0 ? m : null;
}

/**
 * The runner of `trial` on `layer` over the first `T` steps of x ([T_full, B, I]).
 * Returns { call(), check() }: `check()` returns the outputs the caller needs, under the names the
 * peers use: stream → { hs } (h of each of `checkSteps` steps from a zero state); forward → { h } or
 * { output }; train → { input, weight_ih_l0, ... } (gradients of loss = sum(outputs)).
 */
export function makeRnnxRunner(trial, layer, x, T, { checkSteps = 4 } = {}) {
  const { I, H, B } = trial;
  if (trial.mode === 'stream') {
    const frame = new Tensor(x.slice(0, B * I), [B, I]);
    let s = null; // created on the first timed call (a runner used only for its check needs none)
    return {
      call: () => (s ??= layer.stream({ batch: B })).step(frame),
      check() {
        const k = layer.stream({ batch: B });
        const hs = new Float32Array(checkSteps * B * H);
        for (let i = 0; i < checkSteps; i++) hs.set(k.step(frame).data, i * B * H);
        k.dispose();
        return { hs };
      },
      release() {
        s?.dispose();
        s = null;
      },
    };
  }
  const xt = new Tensor(x.subarray(0, T * B * I), [T, B, I]);
  if (trial.mode === 'train') {
    // A training loop's step: the outputs and the gradients go into the buffers of the step before
    // (forward's `out`, backward's `out`), as PyTorch's backward writes into the .grad tensors it
    // allocated once.
    const gy = new Tensor(new Float32Array(T * B * H).fill(1), [T, B, H]);
    const y = new Tensor(new Float32Array(T * B * H), [T, B, H]);
    let grads = null;
    const step = () => (grads = layer.forward(xt, { requiresGrad: true, out: y }).backward({ output: gy }, grads ? { out: grads } : undefined));
    return {
      call: step,
      check() {
        const g = step();
        // (copies: the timed calls overwrite these buffers)
        const out = { input: g.input.data.slice() };
        for (const [k, v] of Object.entries(g.weights)) out[k] = v.data.slice();
        return out;
      },
      release() {},
    };
  }
  // A caller that needs only the final state asks for no per-step outputs (ONNX Runtime's graph
  // then outputs only Y_h, the other peers return only their last state). One that needs every
  // output gets them in one tensor reused across calls (forward's `out`), as ONNX Runtime writes
  // into a pre-allocated Y (see onnx.mjs).
  const needAll = trial.needs.includes('output');
  const opts = needAll
    ? { out: new Tensor(new Float32Array(T * B * layer.outputSize), [T, B, layer.outputSize]) }
    : { returnSequences: false };
  return {
    call: () => layer.forward(xt, opts),
    check() {
      const r = layer.forward(xt, opts);
      // (a copy: `out` is overwritten by the timed calls)
      return needAll ? { output: r.output.data.slice() } : { h: r.h.data };
    },
    release() {},
  };
}
