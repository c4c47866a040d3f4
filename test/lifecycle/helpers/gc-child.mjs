// Run with `node --expose-gc` (test/lifecycle/gc.test.ts). Drives many native objects through
// the GC without dispose() and prints one JSON line:
//   { liveAfter, liveDuring, rss10k, rss100k, growthMB, ok }
// - 100k forward calls on one small module, every 10th recording a tape that is dropped, every
//   1000th creating a stream that is dropped;
// - 10k modules created, used once (with a dropped tape) and dropped without dispose().
// After gc() + a few turns of the event loop (finalizers run from SetImmediate), liveObjects()
// must be back to 0, and RSS between the 10k-th and the 100k-th call must stay flat.
import { loadBinding, makeModule } from './load-binding.mjs';

if (typeof gc !== 'function') {
  console.error('run with --expose-gc');
  process.exit(2);
}

const calls = Number(process.argv[2] ?? 100_000);
const modules = Number(process.argv[3] ?? 10_000);
const b = await loadBinding();

async function collect() {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

const mb = (bytes) => bytes / 2 ** 20;
const external0 = process.memoryUsage().external;

// Each phase is its own function: a suspended async frame could otherwise keep the last loop
// object reachable and make liveObjects() read 1.
async function manyCalls() {
  const { module, args } = makeModule(b, { inputSize: 8, hiddenSize: 16, seqLen: 4, batch: 2 });
  const recording = { ...args, requiresGrad: true };
  let rss10k = 0;
  for (let i = 1; i <= calls; i++) {
    if (i % 10 === 0) module.forward(recording); // tape dropped: its finalizer must free it
    else module.forward(args);
    if (i % 1000 === 0) module.createStream(2); // dropped too
    // Collect now and then, so RSS measures leaks rather than how far V8 lets garbage pile up
    // (it defers GC until ~64 MB of external memory, and malloc keeps the peak mapped).
    if (i % 2000 === 0) await collect();
    if (i === Math.min(10_000, calls)) rss10k = mb(process.memoryUsage().rss);
  }
  await collect();
  const rss100k = mb(process.memoryUsage().rss);
  const liveDuring = b.liveObjects(); // the module itself
  module.dispose();
  return { rss10k, rss100k, liveDuring };
}

async function manyModules() {
  for (let i = 0; i < modules; i++) {
    const m = makeModule(b, { inputSize: 8, hiddenSize: 16, seqLen: 4, batch: 2, seed: i });
    m.module.forward({ ...m.args, requiresGrad: i % 2 === 0 });
    if (i % 1000 === 0) m.module.createStream(1);
    if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
  }
}

const { rss10k, rss100k, liveDuring } = await manyCalls();
await manyModules();
await collect();
const liveAfter = b.liveObjects();
const externalGrowthMB = mb(process.memoryUsage().external - external0);
const growthMB = rss100k - rss10k;
const ok = liveAfter === 0 && liveDuring === 1 && growthMB < 30 && externalGrowthMB < 1;
console.log(JSON.stringify({ liveAfter, liveDuring, rss10k, rss100k, growthMB, externalGrowthMB, ok }));
process.exit(ok ? 0 : 1);
