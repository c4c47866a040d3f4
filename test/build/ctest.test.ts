// The native C++ tests (native/tests) through CMake/CTest, plain and under ASan/UBSan
// (scripts/ctest.mjs). Compiling both trees takes a few minutes on 2 cores.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('native tests (ctest)', () => {
  it(
    'build and pass, plain and with sanitizers',
    async () => {
      const started = Date.now();
      const { code, output } = await run(process.execPath, ['scripts/ctest.mjs']);
      const summary = output
        .split('\n')
        .filter((l) => /^native tests \(/.test(l))
        .join('\n');
      console.log(`${summary}\n(scripts/ctest.mjs took ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      // On failure, the tail of the log (a failing check prints its file:line and values).
      if (code !== 0) console.log(output.slice(-20_000));
      expect(code).toBe(0);
      expect(output).toMatch(/native tests \(plain\): ok/);
      expect(output).toMatch(/native tests \(asan\): ok/);
    },
    20 * 60_000,
  );
});
