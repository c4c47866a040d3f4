/**
 * What this build of rnnx can run on: the CPU ISA in use, the ones supported and compiled, the
 * thread count, and CUDA's availability with the reason when it is not.
 */
import { createRequire } from 'node:module';
import { fromNative, invalidArg } from './errors.js';
import { getBinding } from './native/binding.js';
import type { NativeCpuInfo, NativeCudaInfo } from './native/types.js';

export interface BackendInfo {
  version: string;
  cpu: NativeCpuInfo;
  threads: number;
  cuda: NativeCudaInfo;
}

/** The package version (from package.json). */
export function version(): string {
  const require = createRequire(import.meta.url);
  return (require('../package.json') as { version: string }).version;
}

export function getBackendInfo(): BackendInfo {
  const b = getBinding();
  return { version: version(), cpu: b.cpuInfo(), threads: b.getThreads(), cuda: b.cudaProbe() };
}

/** Sets the native thread pool size (1..1024). */
export function setThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1024) throw invalidArg('n', 'an integer in 1..1024', n);
  try {
    getBinding().setThreads(n);
  } catch (e) {
    throw fromNative(e);
  }
}

export function getThreads(): number {
  return getBinding().getThreads();
}

/**
 * Lowers the CPU kernel ISA ('scalar' | 'avx2' | 'avx512' | 'neon'), e.g. to compare variants.
 * Raising it past what the CPU supports throws. Call while no work is running.
 */
export function setCpuIsa(isa: string): void {
  if (typeof isa !== 'string') throw invalidArg('isa', "'scalar', 'avx2', 'avx512' or 'neon'", isa);
  try {
    getBinding().setCpuIsa(isa);
  } catch (e) {
    throw fromNative(e);
  }
}
