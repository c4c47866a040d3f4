// Types of load-binding.mjs (a plain ESM helper so child processes and workers can use it).
import type { NativeBinding, NativeForwardArgs, NativeRnn, NativeRnnConfig } from '../../../lib/native/types.js';

export function loadBinding(): Promise<NativeBinding>;
export function act(kind: number, alpha?: number, beta?: number): { kind: number; alpha: number; beta: number };
export function lstmConfig(inputSize: number, hiddenSize: number, dtype?: 'float32' | 'float64'): NativeRnnConfig;
export function lstmParamCount(inputSize: number, hiddenSize: number): number;
export function filled(n: number, seed: number, scale?: number): Float32Array;
export function makeModule(
  binding: NativeBinding,
  opts?: { inputSize?: number; hiddenSize?: number; seqLen?: number; batch?: number; seed?: number },
): { module: NativeRnn; args: NativeForwardArgs & { x: Float32Array; y: Float32Array }; cfg: NativeRnnConfig };
export function checksum(a: ArrayLike<number>): number;
