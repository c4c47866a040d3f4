/**
 * TensorFlow.js peer (pure-JS `cpu` backend and `wasm` backend): tf.layers LSTM / GRU / SimpleRNN
 * models with the rnnx weights converted to the Keras layout.
 *
 * Keras/tfjs layout: kernel [I, G·H] = W_ihᵀ, recurrent_kernel [H, G·H] = W_hhᵀ, one bias [G·H] =
 * b_ih + b_hh. LSTM gates i,f,c,o (PyTorch's i,f,g,o: same order); GRU z,r,h (PyTorch r,z,n
 * reordered) and reset-before only (tfjs has no reset_after), so GRU trials compare tfjs with an rnnx
 * GRU built with linearBeforeReset: false on the same weights; SimpleRNN one block.
 * tfjs is batch-major: inputs are handed over as [B, T, I] (converted outside the timed call).
 */
import { reorderBlocks, swap01, transpose } from '../lib/util.mjs';

let tfModule;
/** Loads @tensorflow/tfjs and the wasm backend once (quietly: tfjs advertises tfjs-node on load). */
export async function loadTf() {
  if (!tfModule) {
    const warn = console.warn;
    const log = console.log;
    console.warn = () => {};
    console.log = () => {};
    try {
      tfModule = await import('@tensorflow/tfjs');
      await import('@tensorflow/tfjs-backend-wasm');
    } finally {
      console.warn = warn;
      console.log = log;
    }
  }
  return tfModule;
}

/** Switches the backend ('cpu' | 'wasm'); returns a short description of it. */
export async function useBackend(name) {
  const tf = await loadTf();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs backend ${name} failed to initialize`);
  await tf.ready();
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return `wasm${simd ? ' simd' : ''}${mt ? ' mt' : ' 1 thread'}`;
  }
  return name;
}

const KERAS_GATE_ORDER = { lstm: [0, 1, 2, 3], gru: [1, 0, 2], rnn: [0] };

/** [kernel, recurrentKernel, bias] as flat arrays with their shapes, from a PyTorch state dict (layer 0). */
export function kerasWeights(cell, I, H, sd) {
  const order = KERAS_GATE_ORDER[cell];
  const G = order.length;
  const wih = reorderBlocks(sd.weight_ih_l0, H * I, order);
  const whh = reorderBlocks(sd.weight_hh_l0, H * H, order);
  const bih = reorderBlocks(sd.bias_ih_l0, H, order);
  const bhh = reorderBlocks(sd.bias_hh_l0, H, order);
  const bias = new Float32Array(G * H);
  for (let i = 0; i < bias.length; i++) bias[i] = bih[i] + bhh[i];
  return [
    { data: transpose(wih, G * H, I), shape: [I, G * H] },
    { data: transpose(whh, G * H, H), shape: [H, G * H] },
    { data: bias, shape: [G * H] },
  ];
}

function layerFor(tf, cell, H, opts) {
  // Zeros initializers: the weights are set right after, and tfjs's default orthogonal recurrent
  // initializer runs a QR decomposition in JS that takes minutes on the big trials.
  const common = { units: H, kernelInitializer: 'zeros', recurrentInitializer: 'zeros', biasInitializer: 'zeros', ...opts };
  if (cell === 'lstm') return tf.layers.lstm({ ...common, recurrentActivation: 'sigmoid' });
  if (cell === 'gru') return tf.layers.gru({ ...common, recurrentActivation: 'sigmoid', resetAfter: false });
  return tf.layers.simpleRNN({ ...common, activation: 'tanh' });
}

/**
 * A tfjs runner for `trial` on the current backend, on the first `T` steps of x ([T_full, B, I],
 * time-major). `sd` is the PyTorch-layout state dict (for GRU: of the reset-before rnnx model).
 * Returns { call(), check() } (stream: { reset(), step(frame) , call() }).
 */
export async function makeTfRunner(trial, sd, x, T) {
  const tf = await loadTf();
  const { cell, I, H, B } = trial;
  const weights = kerasWeights(cell, I, H, sd);
  const setWeights = (layer) => {
    const ts = weights.map((w) => tf.tensor(w.data, w.shape));
    layer.setWeights(ts);
    ts.forEach((t) => t.dispose());
  };

  if (trial.mode === 'stream') {
    const layer = layerFor(tf, cell, H, { stateful: true, returnSequences: false, batchInputShape: [B, 1, I] });
    const model = tf.sequential({ layers: [layer] });
    setWeights(layer);
    const step = (frame) =>
      tf.tidy(() => {
        const y = model.predict(tf.tensor3d(frame, [B, 1, I]));
        return { h: y.dataSync() };
      });
    return {
      reset: () => model.resetStates(),
      step,
      call: () => step(x.subarray(0, B * I)),
      release: () => model.dispose(),
    };
  }

  const xb = swap01(x.subarray(0, T * B * I), T, B, I); // [B, T, I]
  const needAll = trial.mode === 'train' || trial.needs.includes('output');
  const layer = layerFor(tf, cell, H, { returnSequences: needAll, inputShape: [T, I] });
  const model = tf.sequential({ layers: [layer] });
  setWeights(layer);
  const xt = tf.tensor3d(xb, [B, T, I]);

  if (trial.mode === 'train') {
    const xVar = tf.variable(xt);
    const vars = layer.trainableWeights.map((w) => w.read());
    const stepGrads = () => {
      const { value, grads } = tf.variableGrads(() => model.apply(xVar, { training: true }).sum(), [xVar, ...vars]);
      const out = { loss: value.dataSync()[0] };
      for (const [k, g] of Object.entries(grads)) out[k] = g.dataSync();
      value.dispose();
      Object.values(grads).forEach((g) => g.dispose());
      return out;
    };
    return {
      call: stepGrads,
      check() {
        const g = stepGrads();
        const [kName, rkName, bName] = vars.map((v) => v.name);
        const G = 4;
        return {
          input: swap01(g[xVar.name], B, T, I),
          weight_ih_l0: transpose(g[kName], I, G * H),
          weight_hh_l0: transpose(g[rkName], H, G * H),
          bias_ih_l0: g[bName],
          bias_hh_l0: g[bName],
        };
      },
      release() {
        xVar.dispose();
        xt.dispose();
        model.dispose();
      },
    };
  }

  const run = () => tf.tidy(() => model.predict(xt).dataSync());
  return {
    call: run,
    check() {
      const y = run();
      return needAll ? { output: swap01(y, B, T, H) } : { h: y };
    },
    release() {
      xt.dispose();
      model.dispose();
    },
  };
}
