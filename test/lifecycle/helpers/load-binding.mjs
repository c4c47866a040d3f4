// Loads the addon in a child process or worker thread started by a lifecycle test.
//
// Prefers the compiled loader (dist/native/binding.js, built by `npx tsc` / `npm test`), which
// honours RNNX_BINARY; the parent test sets RNNX_BINARY to the file it resolved through
// lib/native/binding.ts, so both load the very same rnnx.node. Without dist/ (tests run before
// tsc), it requires that file directly.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function loadBinding() {
  const dist = path.join(root, 'dist', 'native', 'binding.js');
  if (existsSync(dist)) {
    const mod = await import(pathToFileURL(dist).href);
    return mod.getBinding();
  }
  if (!process.env.RNNX_BINARY) throw new Error('load-binding: run `npx tsc` first or set RNNX_BINARY');
  return createRequire(import.meta.url)(path.resolve(process.env.RNNX_BINARY));
}

export function act(kind, alpha = 0, beta = 0) {
  return { kind, alpha, beta };
}

/** A unidirectional one-layer LSTM config. */
export function lstmConfig(inputSize, hiddenSize, dtype = 'float32') {
  return {
    cell: 'lstm',
    inputSize,
    hiddenSize,
    projSize: 0,
    numLayers: 1,
    bidirectional: false,
    batchFirst: false,
    bias: true,
    linearBeforeReset: true,
    activations: [act(0), act(1), act(1)],
    clip: 0,
    dtype,
  };
}

export function lstmParamCount(inputSize, hiddenSize) {
  const G = 4 * hiddenSize;
  return G * inputSize + G * hiddenSize + 2 * G;
}

/** Deterministic values in [-scale, scale). */
export function filled(n, seed, scale = 0.5) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
}

/** A module plus reusable forward arguments. */
export function makeModule(binding, { inputSize = 8, hiddenSize = 16, seqLen = 4, batch = 2, seed = 1 } = {}) {
  const cfg = lstmConfig(inputSize, hiddenSize);
  const module = new binding.RnnModule(cfg, filled(lstmParamCount(inputSize, hiddenSize), seed));
  const args = {
    seqLen,
    batch,
    x: filled(seqLen * batch * inputSize, seed + 1, 1),
    h0: null,
    c0: null,
    lengths: null,
    y: new Float32Array(seqLen * batch * hiddenSize),
    hn: new Float32Array(batch * hiddenSize),
    cn: new Float32Array(batch * hiddenSize),
    requiresGrad: false,
  };
  return { module, args, cfg };
}

export function checksum(a) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * ((i % 7) + 1);
  return s;
}
