#!/usr/bin/env node
// prebuild-arm64.mjs — cross-compiles prebuilds/linux-arm64/rnnx.node on an x86-64 Linux host with
// Debian's aarch64 toolchain (g++-aarch64-linux-gnu), through prebuildify/node-gyp like the native
// prebuild, so the binary is built exactly as `npm run prebuild` builds it on arm64 itself.
//
//   npm run prebuild:arm64          (test/build/arm64.test.ts loads it in arm64 Node under qemu)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const bin = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const env = {
  ...process.env,
  CC: 'aarch64-linux-gnu-gcc',
  CXX: 'aarch64-linux-gnu-g++',
  LINK: 'aarch64-linux-gnu-g++',
  AR: 'aarch64-linux-gnu-ar',
  // binding.gyp already links with -s; prebuildify's strip step must use the target's strip
  PREBUILD_STRIP_BIN: 'aarch64-linux-gnu-strip',
};
// node-gyp needs Node's headers; npm passes its `nodedir` setting to scripts it runs, but when this
// script runs directly, point at the headers installed next to this Node (no download offline).
if (!env.npm_config_nodedir) {
  const dir = dirname(dirname(process.execPath));
  if (existsSync(join(dir, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = dir;
}
const r = spawnSync(process.execPath, [bin, '--napi', '--strip', '--arch', 'arm64'], { cwd: root, env, stdio: 'inherit' });
if (r.error) {
  console.error(`prebuild-arm64: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
