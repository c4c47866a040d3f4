// worker_threads: the addon loads in several environments at once, computes the same results in
// each, and each environment's teardown frees what it left alive. Environments that go away with
// async work in flight (process.exit in a worker, terminate(), exit of the main thread) must not
// crash the process: that runs in child processes, which must exit with status 0.
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { binding, here, runChild, settle } from './helpers/native.js';
import { checksum, makeModule } from './helpers/load-binding.mjs';
import { resolveBindingPath } from '../../lib/native/binding.js';

const b = binding();

function runWorker(workerData: object): Promise<{ sums: number[] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(here, 'worker-forward.mjs'), {
      workerData,
      env: { ...process.env, RNNX_BINARY: resolveBindingPath() },
    });
    let message: { sums: number[] } | undefined;
    w.on('message', (m) => (message = m));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && message ? resolve(message) : reject(new Error(`worker exit ${code}`))));
  });
}

describe('worker_threads', () => {
  it('4 workers load the addon, compute what the main thread computes, and clean up on exit', async () => {
    await settle();
    const base = b.liveObjects();
    const { module, args } = makeModule(b, { seqLen: 20, batch: 4, seed: 1 });
    module.forward(args);
    const expected = checksum(args.y);
    module.dispose();

    const results = await Promise.all([
      runWorker({ iterations: 50, dispose: false }),
      runWorker({ iterations: 50, dispose: true }),
      runWorker({ iterations: 200, dispose: false }),
      runWorker({ iterations: 10, dispose: false }),
    ]);
    for (const r of results) {
      expect(r.sums[0]).toBe(expected);
      expect(r.sums[1]).toBe(expected);
    }
    // Each worker left a module / tape / stream alive; its environment's teardown freed them.
    await settle();
    expect(b.liveObjects()).toBe(base);
  }, 60_000);

  for (const mode of ['worker-exit', 'terminate', 'main-exit']) {
    it(`survives ${mode} with async forwards in flight (forked child exits 0)`, () => {
      for (let round = 0; round < 2; round++) {
        const r = runChild('worker-exit-child.mjs', [mode], [], 60_000);
        expect(r.signal, r.stderr).toBeNull();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain(`ok ${mode}`);
      }
    }, 180_000);
  }
});
