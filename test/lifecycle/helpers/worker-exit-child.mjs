// A child process (test/lifecycle/workers.test.ts) in which environments go away while async
// forwards are in flight. It must exit with status 0 and print "ok <mode>": no crash, no abort,
// no hang. Modes:
//   worker-exit  workers queue heavy forwardAsync calls, then call process.exit() (ends the worker)
//   terminate    workers queue heavy calls; the main thread terminate()s them mid-flight
//   main-exit    workers and the main thread have calls in flight when the main thread exits
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

import { loadBinding, makeModule } from './load-binding.mjs';

// About 40 ms per call on one core: long enough to be in flight when the environment goes.
const HEAVY = { inputSize: 64, hiddenSize: 128, seqLen: 40, batch: 16 };

async function queueHeavy(b, n) {
  const promises = [];
  for (let i = 0; i < n; i++) {
    const { module, args } = makeModule(b, { ...HEAVY, seed: i + 1 });
    promises.push(module.forwardAsync({ ...args, requiresGrad: i % 2 === 0 }));
  }
  return promises;
}

if (!isMainThread) {
  const b = await loadBinding();
  await queueHeavy(b, 3);
  if (workerData.mode === 'worker-exit') {
    process.exit(0); // in a worker: stops this thread only
  }
  parentPort.postMessage('started');
  // Keep the thread busy with more work until it is terminated.
  setInterval(() => {}, 1000);
} else {
  const mode = process.argv[2];
  const self = fileURLToPath(import.meta.url);
  const b = await loadBinding();
  const workers = Array.from({ length: 3 }, () => new Worker(self, { workerData: { mode } }));
  const exits = workers.map((w) => new Promise((resolve) => w.on('exit', resolve)));
  for (const w of workers) w.on('error', (e) => { console.error('worker error', e); process.exit(3); });

  if (mode === 'worker-exit') {
    await Promise.all(exits);
    console.log('ok worker-exit');
  } else if (mode === 'terminate') {
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    await Promise.all(workers.map((w) => w.terminate()));
    console.log('ok terminate');
  } else if (mode === 'main-exit') {
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    await queueHeavy(b, 2);
    console.log('ok main-exit');
    process.exit(0);
  } else {
    console.error('unknown mode', mode);
    process.exit(2);
  }
}
