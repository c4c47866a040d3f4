/**
 * Runs the trials of one config group in this process (rnnx and every JS peer; PyTorch through one
 * Python child) and writes the rows as JSON. Started by index.mjs, one process per group:
 *
 *   node bench/run-group.mjs --group C2 --out rows.json [--quick] [--only C2-lstm,...]
 *                            [--budget MS] [--no-torch] [--no-tfjs] [--no-ort] [--no-brain] [--openblas-coretype NAME]
 *
 * For each trial: rnnx (default ISA and threads) is the reference. Its variants (1 thread, scalar ISA)
 * and every peer are first checked against it on the same weights and inputs (max |peer − rnnx| /
 * max |rnnx| ≤ 1e-4), then timed with tinybench (medians); a peer that disagrees is a 'mismatch' and
 * is not timed. Engines too slow for the whole sequence run a prefix (trials.mjs `prefix`) and are
 * scaled by T / prefix ('~').
 *
 * The engines fast enough for it are timed in interleaved rounds (ROUNDS slices of the budget each,
 * in a rotating order; the median is taken over all of an engine's samples): this VM's speed drifts
 * by 20-40 % over tens of seconds, and timing each engine in one block would hand each the phase it
 * happened to fall in. The FMA peak of a throughput trial is measured in every round too (the best of
 * those short tries, as CONFIGS.md defines the peak), and PyTorch (its own process) takes a turn in
 * every round. Engines slower than a round's slice (some scalar runs) are timed after the rounds, one
 * at a time. TensorFlow.js is checked and timed last, after every trial of the group (its checks leave
 * a large JS heap whose garbage collections slowed the rnnx calls timed after them).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ALL, TRIALS, flopsOf } from './trials.mjs';
import { TOLERANCE, budgetFor, measure, median, probe, relErrAll, uniform } from './lib/util.mjs';
import { fmaPeak, getBackendInfo, layerFrom, makeLayer, makeRnnxRunner, plainStateDict, setCpuIsa, setThreads } from './peers/rnnx.mjs';

const { values: args } = parseArgs({
  options: {
    group: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    budget: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    'no-tfjs': { type: 'boolean', default: false },
    'no-ort': { type: 'boolean', default: false },
    'no-brain': { type: 'boolean', default: false },
    'openblas-coretype': { type: 'string' },
  },
});

const QUICK = args.quick;
const BUDGET = Number(args.budget ?? (QUICK ? 300 : 1500)); // ms of samples per engine and trial
const ROUNDS = QUICK ? 3 : 5; // interleaved timing rounds
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ENGINE_PAUSE_MS = 50; // between engines in a round (onnxruntime's intra-op threads spin a while after a run)
const TORCH_PAUSE_MS = 300; // after PyTorch's turn in a round
const CHECK_STEPS = 4;
const log = (...a) => process.stderr.write(`[${args.group}] ${a.join(' ')}\n`);

const only = args.only ? args.only.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : null;
const trials = TRIALS.filter((t) => t.group === args.group && (!only || only.includes(t.group.toLowerCase()) || only.includes(t.id.toLowerCase())));

const info = getBackendInfo();
const DEFAULT_ISA = info.cpu.selected;
const DEFAULT_THREADS = info.threads;

/** The prefix length `engine` runs for `trial` (the full T unless trials.mjs caps it). */
function stepsFor(trial, engine) {
  const table = QUICK ? { ...(trial.prefix ?? {}), ...(trial.quickPrefix ?? {}) } : (trial.prefix ?? {});
  const p = table[engine];
  return p && p < trial.T ? p : trial.T;
}

/**
 * Checks a runner's outputs against the reference and sizes one call. Returns the row entry (status
 * 'pending' until timed, or 'mismatch') and, when it is to be timed, the timing job.
 */
async function checkOnly(name, runner, ref, { T, trial, enter }) {
  const t0 = performance.now();
  const got = await runner.check();
  let oneCall = performance.now() - t0;
  const { err, worst } = relErrAll(ref, got);
  const res = { relErr: err };
  if (!(err <= TOLERANCE)) {
    log(`${name}: MISMATCH rel err ${err.toExponential(2)} (worst: ${worst})`);
    await runner.release?.();
    return { res: { ...res, status: 'mismatch', worst }, job: null };
  }
  // The check was the first call (compilations, allocations); one more call sizes the budget better.
  if (oneCall < 3000) oneCall = Math.min(oneCall, await probe(runner.call));
  return { res: { ...res, status: 'pending' }, job: { name, runner, T, trial, enter, oneCall, times: [] } };
}

/** Fills `res` from a job's samples (ms per call of its prefix). */
function finish(job, res, times, samples) {
  const scale = job.trial.T / job.T;
  const ms = median(times);
  log(`${job.trial.id} ${job.name}: ${ms.toFixed(4)} ms${scale !== 1 ? ` × ${job.trial.T}/${job.T} (prefix of ${job.T} steps)` : ''} (${samples} samples, rel err ${res.relErr.toExponential(1)})`);
  Object.assign(res, { status: 'ok', medianMs: ms * scale, measuredMs: ms, samples, scaled: scale !== 1, steps: job.T });
}

/**
 * Times the checked jobs: those whose call fits in a round's slice in interleaved rounds (rotating
 * order, a pause between engines so that one engine's spinning threads do not run into the next one's
 * samples), the rest one at a time afterwards. `results[name]` is each job's row entry. `perRound`
 * runs at the end of every round (a throughput trial's FMA peak, PyTorch's turn).
 */
async function timeJobs(jobs, results, perRound) {
  const slice = BUDGET / ROUNDS;
  const inter = jobs.filter((j) => j.oneCall <= slice);
  const alone = jobs.filter((j) => !inter.includes(j));
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < inter.length; i++) {
      const j = inter[(i + round) % inter.length];
      if (j.error) continue;
      try {
        await j.enter?.();
        const quick = j.oneCall * 10 <= slice;
        const m = await measure(j.name, j.runner.call, {
          time: slice,
          iterations: quick ? 5 : 2,
          warmup: true,
          warmupTime: quick ? Math.min(100, slice / 3) : 0,
          warmupIterations: quick ? 3 : 1,
          retain: true,
        });
        for (const t of m.times) j.times.push(t);
      } catch (e) {
        log(`${j.trial.id} ${j.name}: ERROR ${e?.stack ?? e}`);
        j.error = String(e?.message ?? e).split('\n')[0];
      }
      await sleep(ENGINE_PAUSE_MS);
    }
    await perRound?.(round);
  }
  for (const j of inter) {
    if (j.error) results[j.name] = { ...results[j.name], status: 'error', error: j.error };
    else finish(j, results[j.name], j.times, j.times.length);
  }
  for (const j of alone) {
    try {
      await j.enter?.();
      const m = await measure(j.name, j.runner.call, budgetFor(j.oneCall, BUDGET));
      finish(j, results[j.name], [m.medianMs], m.samples);
    } catch (e) {
      log(`${j.trial.id} ${j.name}: ERROR ${e?.stack ?? e}`);
      results[j.name] = { ...results[j.name], status: 'error', error: String(e?.message ?? e).split('\n')[0] };
    }
  }
  for (const j of jobs) await j.runner.release?.();
}

async function guarded(name, fn) {
  try {
    return await fn();
  } catch (e) {
    log(`${name}: ERROR ${e?.stack ?? e}`);
    return { status: 'error', error: String(e?.message ?? e).split('\n')[0] };
  }
}

/** The reference for a prefix of T steps (forward/train trials). */
function refFor(trial, layer, x, T, cache) {
  if (!cache.has(T)) {
    const r = makeRnnxRunner(trial, layer, x, T, { checkSteps: CHECK_STEPS });
    cache.set(T, r.check());
    r.release();
  }
  return cache.get(T);
}

async function runTrial(trial, torch) {
  const { cell, I, H, B, T } = trial;
  log(`${trial.label}: I ${I} H ${H} B ${B} T ${T} (${trial.mode})`);
  const seed = 1000 + TRIALS.indexOf(trial);
  const x = uniform(T * B * I, seed + 1);
  const layer = makeLayer(trial, seed);
  const sd = plainStateDict(layer);
  const row = { id: trial.id, group: trial.group, label: trial.label, cell, I, H, B, T, mode: trial.mode, needs: trial.needs, flops: flopsOf(trial), results: {}, notes: [] };
  const refs = new Map();
  const R = row.results;

  // Every engine is checked first (and keeps its runner); then the checked ones are timed together.
  const jobs = [];
  async function check(key, make, ref, { T: Tp = T, enter, extra } = {}) {
    R[key] = await guarded(key, async () => {
      await enter?.();
      const runner = await make();
      const { res, job } = await checkOnly(key, runner, ref, { T: Tp, trial, enter });
      if (job) jobs.push(job);
      return { ...res, ...extra };
    });
  }
  const rnnxAt = (isa, threads) => () => {
    setCpuIsa(isa);
    setThreads(threads);
  };

  // rnnx: default ISA and threads (the reference), 1 thread, scalar ISA.
  const ref = refFor(trial, layer, x, T, refs);
  await check('rnnx', () => makeRnnxRunner(trial, layer, x, T), ref, { enter: rnnxAt(DEFAULT_ISA, DEFAULT_THREADS), extra: { threads: DEFAULT_THREADS, isa: DEFAULT_ISA } });
  await check('rnnx-1t', () => makeRnnxRunner(trial, layer, x, T), ref, { enter: rnnxAt(DEFAULT_ISA, 1) });
  if (DEFAULT_ISA !== 'scalar') {
    const Ts = stepsFor(trial, 'rnnx-scalar');
    const refS = refFor(trial, layer, x, Ts, refs);
    await check('rnnx-scalar', () => makeRnnxRunner(trial, layer, x, Ts), refS, { T: Ts, enter: rnnxAt('scalar', DEFAULT_THREADS) });
  }
  rnnxAt(DEFAULT_ISA, DEFAULT_THREADS)();

  // GRU: tfjs knows only the reset-before variant; rnnx runs it too, on the same weights.
  let rb = null;
  if (cell === 'gru' && !args['no-tfjs']) {
    rb = layerFrom(trial, sd, { linearBeforeReset: false });
    const rbRefs = new Map();
    await check('rnnx-rb', () => makeRnnxRunner(trial, rb, x, T), refFor(trial, rb, x, T, rbRefs), { enter: rnnxAt(DEFAULT_ISA, DEFAULT_THREADS) });
    row.rbRefs = rbRefs;
    row.rbRef = (Tp) => refFor(trial, rb, x, Tp, rbRefs);
  }

  // onnxruntime-node, 1 thread and all cores.
  if (trial.mode === 'train') {
    R['ort-1t'] = R['ort-all'] = { status: 'n/a', note: 'ORT runs inference only' };
  } else if (!args['no-ort']) {
    const { makeOrtRunner } = await import('./peers/onnx.mjs');
    for (const [key, threads] of [['ort-1t', 1], ['ort-all', ALL]]) {
      await check(key, async () => streamAware(await makeOrtRunner(trial, sd, x, threads), trial), ref);
    }
  }

  // Timing: interleaved rounds; in every round a throughput trial's FMA peak (best of the tries) and
  // PyTorch (its process times a round's share of the budget; its time is the median of the rounds').
  const peakAt = [['rnnx', DEFAULT_THREADS], ['rnnx-1t', 1]]; // the row entry and its thread count
  const peaks = Object.fromEntries(peakAt.map(([key]) => [key, []]));
  const torchRounds = [];
  const perRound = async () => {
    if (trial.reportFlops) {
      setCpuIsa(DEFAULT_ISA); // (the peak of the ISA the row used: the round's last engine may have been rnnx's scalar turn)
      for (const [key, threads] of peakAt) peaks[key].push(fmaPeak(threads, 0.1, 1));
    }
    if (torch?.peer && !torchRounds.some((r) => r.status === 'error')) {
      torchRounds.push(await guarded('torch', () => torch.peer.run(trial, sd, x, { threads: [1, ALL], budgetMs: BUDGET / ROUNDS, checkSteps: CHECK_STEPS })));
      // OpenBLAS's threads keep spinning for about 2^28 cycles after their last product before they
      // sleep: the next round's first engine would share its cores with them
      await sleep(TORCH_PAUSE_MS);
    }
  };
  await timeJobs(jobs.splice(0), R, perRound);
  rnnxAt(DEFAULT_ISA, DEFAULT_THREADS)();
  if (trial.reportFlops) {
    // GFLOP/s as CONFIGS.md counts FLOPs, and the fraction of the FMA peak measured in the same rounds
    // at the same thread count.
    for (const [key, threads] of peakAt) {
      const r = R[key];
      if (r?.status !== 'ok') continue;
      r.gflops = row.flops / (r.medianMs * 1e6);
      const ps = peaks[key].filter((v) => Number.isFinite(v));
      r.peakGflops = ps.length ? Math.max(...ps) : fmaPeak(threads);
      r.peakThreads = threads;
      if (r.peakGflops) r.fractionOfPeak = r.gflops / r.peakGflops;
      log(`${key}: ${r.gflops.toFixed(1)} GFLOP/s; FMA peak at ${threads} thread(s): ${r.peakGflops ? r.peakGflops.toFixed(1) : 'n/a'}`);
    }
  }

  // PyTorch (optional), from its rounds.
  if (torch && torch.peer) {
    const failed = torchRounds.find((r) => r.status === 'error');
    const res = failed ?? {
      outputs: torchRounds[0]?.outputs,
      times: Object.fromEntries(
        ['1', String(ALL)].map((n) => [n, { medianMs: median(torchRounds.map((r) => r.times[n].medianMs)), samples: torchRounds.reduce((a, r) => a + r.times[n].samples, 0) }]),
      ),
    };
    if (!failed && !torchRounds.length) {
      R['torch-1t'] = R['torch-all'] = { status: 'error', error: 'no PyTorch round ran' };
    } else if (res.status === 'error') {
      R['torch-1t'] = R['torch-all'] = res;
    } else {
      const ref = refFor(trial, layer, x, T, refs);
      const { err, worst } = relErrAll(ref, res.outputs);
      for (const [key, n] of [['torch-1t', '1'], ['torch-all', String(ALL)]]) {
        if (!(err <= TOLERANCE)) R[key] = { status: 'mismatch', relErr: err, worst };
        else R[key] = { status: 'ok', relErr: err, medianMs: res.times[n].medianMs, samples: res.times[n].samples };
      }
      log(`torch: ${!(err <= TOLERANCE) ? `MISMATCH rel err ${err.toExponential(2)} (worst ${worst})` : `1t ${res.times['1'].medianMs.toFixed(4)} ms, ${ALL}t ${res.times[String(ALL)].medianMs.toFixed(4)} ms (rel err ${err.toExponential(1)})`}`);
    }
  } else if (torch) {
    R['torch-1t'] = R['torch-all'] = { status: 'n/a', note: torch.why };
  }

  const later = async () => {
    // TensorFlow.js, cpu and wasm backends (prefixes for the big trials): checked and timed last, after
    // every trial of the group has had its rounds (later(), below). A tfjs check (a training step on the
    // cpu backend in particular) leaves a large JS heap behind, and rnnx calls timed after it paid for
    // its garbage collections (C4 on two threads: 24 ms instead of 18).
    if (args['no-tfjs']) return;
    const { makeTfRunner, useBackend } = await import('./peers/tfjs.mjs');
    for (const backend of ['cpu', 'wasm']) {
      const key = `tfjs-${backend}`;
      const Tp = stepsFor(trial, key);
      const tsd = rb ? plainStateDict(rb) : sd;
      const tref = rb ? row.rbRef(Tp) : refFor(trial, layer, x, Tp, refs);
      let desc = null;
      // (the backend is switched before each of its slices: the other tfjs backend may run between)
      const enter = () => useBackend(backend);
      await check(key, async () => {
        desc = await useBackend(backend);
        return streamAware(await makeTfRunner(trial, tsd, x, Tp), trial);
      }, tref, { T: Tp, enter, extra: rb ? { vs: 'rnnx-rb' } : {} });
      if (R[key] && desc) R[key].backend = desc;
    }
    await timeJobs(jobs.splice(0), R, null);
  };
  return {
    row,
    async later() {
      try {
        await later();
      } finally {
        delete row.rbRefs;
        delete row.rbRef;
        layer.dispose();
        rb?.dispose();
      }
    },
  };
}

/**
 * Streaming peers (ORT, tfjs) expose reset() and call() (one step of the trial's frame, returning
 * { h }); their check is the h of CHECK_STEPS steps from a zero state, like rnnx's stream check.
 */
function streamAware(r, trial) {
  if (trial.mode !== 'stream') return r;
  const { B, H } = trial;
  return {
    call: r.call,
    release: r.release,
    async check() {
      r.reset();
      const hs = new Float32Array(CHECK_STEPS * B * H);
      for (let i = 0; i < CHECK_STEPS; i++) hs.set((await r.call()).h, i * B * H);
      return { hs };
    },
  };
}

async function main() {
  let torch = null;
  if (process.env.RNNX_BENCH_TORCH === '1' && !args['no-torch']) {
    const { TorchPeer } = await import('./peers/torch.mjs');
    try {
      const peer = await TorchPeer.start({ coretype: args['openblas-coretype'] });
      torch = { peer, info: peer.info };
      log(`torch ${peer.info.torch}, BLAS ${peer.info.blas}${peer.info.openblas_coretype ? ` (OPENBLAS_CORETYPE=${peer.info.openblas_coretype})` : ''}`);
    } catch (e) {
      torch = { peer: null, why: `PyTorch peer failed to start: ${e.message}` };
    }
  } else if (process.env.RNNX_BENCH_TORCH_WHY) {
    torch = { peer: null, why: process.env.RNNX_BENCH_TORCH_WHY };
  }
  const rows = [];
  const laters = [];
  for (const t of trials) {
    const { row, later } = await runTrial(t, torch);
    rows.push(row);
    laters.push(later);
  }
  for (const later of laters) await later();
  const extra = {};
  if (torch?.info) extra.torch = torch.info;
  if (args.group === 'C2' && !args['no-brain'] && trials.length) {
    const { brainNote } = await import('./peers/brain.mjs');
    extra.brain = await guarded('brain.js', () => brainNote({ budgetMs: BUDGET }));
    if (extra.brain.runMs) log(`brain.js (own weights, note only): run ${extra.brain.runMs.toFixed(2)} ms, train iteration ${extra.brain.trainIterMs.toFixed(2)} ms`);
  }
  torch?.peer?.close();
  writeFileSync(args.out, JSON.stringify({ group: args.group, rows, extra }, null, 1));
}

main().then(
  () => process.exit(0),
  (e) => {
    log(`fatal: ${e?.stack ?? e}`);
    process.exit(1);
  },
);
