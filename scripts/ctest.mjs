#!/usr/bin/env node
// ctest.mjs — configures, builds and runs the native tests (native/tests) three times: a plain
// optimised build in build-tests/, an AddressSanitizer + UndefinedBehaviorSanitizer build in
// build-asan/, and on x86-64 an arm64 cross build (Debian's aarch64-linux-gnu toolchain) in
// build-arm64/ whose tests run under qemu-aarch64, so the NEON kernels are tested on every run.
// None needs Node's headers (RNNX_ADDON=OFF). Exits nonzero if any step fails.
//
//   node scripts/ctest.mjs                    every variant
//   node scripts/ctest.mjs plain|asan|arm64   some of them
//   RNNX_CTEST_JOBS=4 node scripts/ctest.mjs   parallel jobs (default 2)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jobs = String(Number.parseInt(process.env.RNNX_CTEST_JOBS ?? '', 10) || 2);

const variants = {
  plain: {
    dir: 'build-tests',
    args: ['-DCMAKE_BUILD_TYPE=Release'],
  },
  asan: {
    dir: 'build-asan',
    // CUDA objects and sanitizers do not mix; the sanitizer run covers the CPU code.
    args: ['-DCMAKE_BUILD_TYPE=Debug', '-DRNNX_SANITIZE=ON', '-DRNNX_CUDA=OFF'],
    env: {
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    },
  },
  arm64: {
    dir: 'build-arm64',
    args: [
      '-DCMAKE_BUILD_TYPE=Release',
      '-DRNNX_CUDA=OFF',
      '-DCMAKE_SYSTEM_NAME=Linux',
      '-DCMAKE_SYSTEM_PROCESSOR=aarch64',
      '-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc',
      '-DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++',
      '-DCMAKE_CROSSCOMPILING_EMULATOR=qemu-aarch64;-L;/usr/aarch64-linux-gnu',
    ],
    // only meaningful (and only needed) when the host is not arm64 already
    when: () => process.arch === 'x64',
  },
};

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!(w in variants)) {
    console.error(`ctest.mjs: unknown variant "${w}" (have: ${Object.keys(variants).join(', ')})`);
    process.exit(2);
  }
}
const selected = wanted.length ? wanted : Object.keys(variants).filter((k) => !variants[k].when || variants[k].when());

function run(cmd, args, env) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) {
    console.error(`ctest.mjs: cannot run ${cmd}: ${r.error.message}`);
    return false;
  }
  return r.status === 0;
}

const results = [];
for (const name of selected) {
  const v = variants[name];
  const started = Date.now();
  const ok =
    run('cmake', ['-S', '.', '-B', v.dir, '-DRNNX_BUILD_TESTS=ON', '-DRNNX_ADDON=OFF', ...v.args]) &&
    run('cmake', ['--build', v.dir, '--parallel', jobs]) &&
    run('ctest', ['--test-dir', v.dir, '--output-on-failure', '--parallel', jobs], v.env);
  results.push({ name, ok, seconds: (Date.now() - started) / 1000 });
}

console.log('');
for (const r of results) console.log(`native tests (${r.name}): ${r.ok ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
