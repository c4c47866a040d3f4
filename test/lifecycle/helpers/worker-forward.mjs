// Runs inside a worker thread (test/lifecycle/workers.test.ts): loads the addon in this
// environment, runs sync and async forwards, leaves some native objects alive on purpose (the
// environment's teardown must free them), reports checksums and exits by running out of work.
import { parentPort, workerData } from 'node:worker_threads';

import { checksum, loadBinding, makeModule } from './load-binding.mjs';

const b = await loadBinding();
const { module, args } = makeModule(b, { seqLen: 20, batch: 4, seed: 1 });
const sums = [];
for (let i = 0; i < workerData.iterations; i++) module.forward(args);
sums.push(checksum(args.y));
for (let i = 0; i < 5; i++) await module.forwardAsync(args);
sums.push(checksum(args.y));
// Left alive: a tape, a stream and (unless asked) the module itself.
module.forward({ ...args, requiresGrad: true });
module.createStream(2);
if (workerData.dispose) module.dispose();
parentPort.postMessage({ sums });
