// Helpers for tests that drive the native addon directly (test/native/addon.test.ts and
// test/lifecycle/*.test.ts). Everything loads through lib/native/binding.ts.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { getBinding, resolveBindingPath } from '../../../lib/native/binding.js';
import type {
  NativeActivation,
  NativeBinding,
  NativeFloatArray,
  NativeForwardArgs,
  NativeRnnConfig,
} from '../../../lib/native/types.js';
import { ACTIVATION_IDS } from '../../../lib/native/types.js';
import { rng } from '../../helpers/random.js';

export const here = path.dirname(fileURLToPath(import.meta.url));

export function binding(): NativeBinding {
  return getBinding();
}

export function act(kind: number, alpha = 0, beta = 0): NativeActivation {
  return { kind, alpha, beta };
}

/** A small LSTM config (PyTorch defaults), with overrides. */
export function makeConfig(over: Partial<NativeRnnConfig> = {}): NativeRnnConfig {
  return {
    cell: 'lstm',
    inputSize: 3,
    hiddenSize: 4,
    projSize: 0,
    numLayers: 1,
    bidirectional: false,
    batchFirst: false,
    bias: true,
    linearBeforeReset: true,
    activations: [act(ACTIVATION_IDS.sigmoid), act(ACTIVATION_IDS.tanh), act(ACTIVATION_IDS.tanh)],
    clip: 0,
    dtype: 'float32',
    ...over,
  };
}

export interface Dims {
  L: number;
  D: number;
  H: number;
  R: number;
  I: number;
  G: number;
  lstm: boolean;
}

export function dims(cfg: NativeRnnConfig): Dims {
  const G = cfg.cell === 'lstm' ? 4 : cfg.cell === 'gru' ? 3 : 1;
  return {
    L: cfg.numLayers,
    D: cfg.bidirectional ? 2 : 1,
    H: cfg.hiddenSize,
    R: cfg.projSize > 0 ? cfg.projSize : cfg.hiddenSize,
    I: cfg.inputSize,
    G,
    lstm: cfg.cell === 'lstm',
  };
}

/** Parameter count implied by the config (PyTorch layout, see native/include/rnnx/cell.h). */
export function paramCount(cfg: NativeRnnConfig): number {
  const { L, D, H, R, I, G } = dims(cfg);
  let n = 0;
  for (let l = 0; l < L; l++) {
    const inl = l === 0 ? I : D * R;
    n += D * (G * H * inl + G * H * R + (cfg.bias ? 2 * G * H : 0) + (cfg.projSize > 0 ? cfg.projSize * H : 0));
  }
  return n;
}

export function floatArray(dtype: 'float32' | 'float64', n: number): NativeFloatArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

export function randomArray(dtype: 'float32' | 'float64', n: number, seed: number, scale = 1): NativeFloatArray {
  const r = rng(seed);
  const a = floatArray(dtype, n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

export function randomWeights(cfg: NativeRnnConfig, seed = 1, scale = 0.5): NativeFloatArray {
  return randomArray(cfg.dtype, paramCount(cfg), seed, scale);
}

/** Forward arguments with random x and freshly allocated outputs (hn always, cn for LSTM). */
export function makeArgs(
  cfg: NativeRnnConfig,
  seqLen: number,
  batch: number,
  opts: { seed?: number; requiresGrad?: boolean; lengths?: number[]; h0?: boolean } = {},
): NativeForwardArgs {
  const { L, D, H, R, I, lstm } = dims(cfg);
  const dt = cfg.dtype;
  return {
    seqLen,
    batch,
    x: randomArray(dt, seqLen * batch * I, opts.seed ?? 7),
    h0: opts.h0 ? randomArray(dt, L * D * batch * R, (opts.seed ?? 7) + 1) : null,
    c0: opts.h0 && lstm ? randomArray(dt, L * D * batch * H, (opts.seed ?? 7) + 2) : null,
    lengths: opts.lengths ? Int32Array.from(opts.lengths) : null,
    y: floatArray(dt, seqLen * batch * D * R),
    hn: floatArray(dt, L * D * batch * R),
    cn: lstm ? floatArray(dt, L * D * batch * H) : null,
    requiresGrad: opts.requiresGrad ?? false,
  };
}

/** Backward arguments for a forward made with `fa` (gradients of sum(y) + sum(hn)). */
export function makeBackwardArgs(cfg: NativeRnnConfig, fa: NativeForwardArgs) {
  const dt = cfg.dtype;
  const gy = floatArray(dt, fa.y.length).fill(1);
  const ghn = floatArray(dt, fa.hn.length).fill(1);
  return {
    gy,
    ghn,
    gcn: null as NativeFloatArray | null,
    dx: floatArray(dt, fa.x.length),
    dh0: floatArray(dt, fa.hn.length),
    dc0: fa.cn ? floatArray(dt, fa.cn.length) : null,
    dw: floatArray(dt, paramCount(cfg)),
    accumulate: false,
  };
}

/** The `.code` of what `fn` throws (fails the test if it does not throw). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${String(e)}`;
  }
  throw new Error('expected the call to throw');
}

/** The error `fn` throws. */
export function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}

/** The error a promise rejects with. */
export async function rejectionOf(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i] as number)) return false;
  return true;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Lets pending finalizers run (Node runs N-API finalizers from SetImmediate after a GC). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Runs a helper script (test/lifecycle/helpers/*.mjs) in a child Node process that loads the same
 * rnnx.node this process resolved through lib/native/binding.ts.
 */
export function runChild(script: string, args: string[] = [], nodeFlags: string[] = [], timeoutMs = 120_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...nodeFlags, path.join(here, script), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, RNNX_BINARY: resolveBindingPath() },
  });
}
