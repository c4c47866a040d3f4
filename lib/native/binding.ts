/**
 * @internal Loads `rnnx.node` once and hands it out typed as {@link NativeBinding}.
 *
 * Resolution order:
 * 1. `RNNX_BINARY=/path/to/rnnx.node`: an explicit binary (custom or CUDA builds), loaded as is.
 * 2. node-gyp-build on the package root: `RNNX_PREBUILD` (a directory that replaces the root),
 *    then `build/Release`, `build/Debug`, then `prebuilds/<platform>-<arch>/`
 *    (`PREBUILDS_ONLY=1` skips the local builds).
 *
 * The load is lazy (first {@link getBinding} call) and cached, failures included: a failed load
 * throws the same {@link BinaryLoadError} on every later call instead of retrying the filesystem.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BinaryLoadError } from '../errors.js';
import type { NativeBinding } from './types.js';

const require = createRequire(import.meta.url);

/**
 * The package root. This file is `lib/native/binding.ts` in the sources and
 * `dist/native/binding.js` once compiled: in both cases the root is two directories up.
 */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

type NodeGypBuild = ((dir: string) => unknown) & { resolve(dir: string): string };

/**
 * The path of the binary {@link getBinding} loads (or would load): `RNNX_BINARY`, else what
 * node-gyp-build picks for the package root. Throws node-gyp-build's error when none fits.
 * Tests hand it to child processes so they load the very same file.
 */
export function resolveBindingPath(): string {
  const explicit = process.env.RNNX_BINARY;
  if (explicit !== undefined && explicit !== '') return path.resolve(explicit);
  return (require('node-gyp-build') as NodeGypBuild).resolve(packageRoot());
}

type Loaded = { ok: true; binding: NativeBinding } | { ok: false; error: BinaryLoadError };
let cached: Loaded | undefined;

/** The native addon; loads it on the first call. Throws BinaryLoadError if it cannot load. */
export function getBinding(): NativeBinding {
  cached ??= load();
  if (!cached.ok) throw cached.error;
  return cached.binding;
}

function load(): Loaded {
  const explicit = process.env.RNNX_BINARY;
  const root = packageRoot();
  try {
    let binding: unknown;
    if (explicit !== undefined && explicit !== '') {
      binding = require(path.resolve(explicit));
    } else {
      binding = (require('node-gyp-build') as NodeGypBuild)(root);
    }
    checkShape(binding);
    return { ok: true, binding };
  } catch (cause) {
    return { ok: false, error: new BinaryLoadError(loadErrorMessage(cause, root, explicit), { cause }) };
  }
}

/** Catches a stale or foreign .node file before it fails later in a confusing way. */
function checkShape(binding: unknown): asserts binding is NativeBinding {
  const b = binding as Partial<Record<keyof NativeBinding, unknown>> | null;
  const missing = (['version', 'cpuInfo', 'cudaProbe', 'RnnModule', 'liveObjects'] as const).filter(
    (k) => b === null || typeof b !== 'object' || b[k] === undefined,
  );
  if (missing.length > 0) {
    throw new Error(`the loaded file is not a compatible rnnx addon (missing: ${missing.join(', ')})`);
  }
}

function loadErrorMessage(cause: unknown, root: string, explicit: string | undefined): string {
  const napi = process.versions.napi ?? 'unknown';
  const target =
    `${process.platform}-${process.arch}, Node ${process.version} ` + `(ABI ${process.versions.modules}, N-API ${napi})`;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const where = explicit ? `RNNX_BINARY=${explicit}` : `package root ${root}`;
  return [
    `rnnx: could not load the native addon (rnnx.node) for ${target} from ${where}.`,
    `Cause: ${reason.trim()}`,
    'Possible solutions:',
    '- Rebuild it from source: npm rebuild rnnx (or `npx node-gyp rebuild` in a checkout)',
    '- Install the build tools it needs: python3, make and a C++17 compiler (g++ or clang++)',
    `- Check that prebuilds/${process.platform}-${process.arch}/ in the rnnx package holds a binary for this platform`,
    explicit
      ? '- Check the RNNX_BINARY path: it must name an rnnx.node built for this platform and Node version'
      : '- For a custom build, set RNNX_BINARY=/path/to/rnnx.node',
  ].join('\n');
}
