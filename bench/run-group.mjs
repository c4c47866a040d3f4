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
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ALL, TRIALS, flopsOf } from './trials.mjs';
import { TOLERANCE, budgetFor, measure, probe, relErrAll, uniform } from './lib/util.mjs';
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

/** Checks a runner's outputs against the reference, then times it. */
async function checkAndTime(name, runner, ref, opts) {
  try {
    return await checkAndTimeInner(name, runner, ref, opts);
  } finally {
    await runner.release?.();
  }
}

async function checkAndTimeInner(name, runner, ref, { T, trial }) {
  const t0 = performance.now();
  const got = await runner.check();
  let oneCall = performance.now() - t0;
  const { err, worst } = relErrAll(ref, got);
  const res = { relErr: err };
  if (!(err <= TOLERANCE)) {
    log(`${name}: MISMATCH rel err ${err.toExponential(2)} (worst: ${worst})`);
    return { ...res, status: 'mismatch', worst };
  }
  // The check was the first call (compilations, allocations); one more call sizes the budget better.
  if (oneCall < 3000) oneCall = Math.min(oneCall, await probe(runner.call));
  const m = await measure(name, runner.call, budgetFor(oneCall, BUDGET));
  const scale = trial.T / T;
  log(`${name}: ${m.medianMs.toFixed(4)} ms${scale !== 1 ? ` × ${trial.T}/${T} (prefix of ${T} steps)` : ''} (${m.samples} samples, rel err ${err.toExponential(1)})`);
  return { ...res, status: 'ok', medianMs: m.medianMs * scale, measuredMs: m.medianMs, samples: m.samples, scaled: scale !== 1, steps: T };
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
  const row = { id: trial.id, group: trial.group, label: trial.label, cell, I, H, B, T, mode: trial.mode, flops: flopsOf(trial), results: {}, notes: [] };
  const refs = new Map();
  const R = row.results;

  // rnnx: default ISA and threads (the reference), 1 thread, scalar ISA.
  setCpuIsa(DEFAULT_ISA);
  setThreads(DEFAULT_THREADS);
  R.rnnx = await guarded('rnnx', () => checkAndTime('rnnx', makeRnnxRunner(trial, layer, x, T), refFor(trial, layer, x, T, refs), { T, trial }));
  R.rnnx.threads = DEFAULT_THREADS;
  R.rnnx.isa = DEFAULT_ISA;
  setThreads(1);
  R['rnnx-1t'] = await guarded('rnnx-1t', () => checkAndTime('rnnx-1t', makeRnnxRunner(trial, layer, x, T), refFor(trial, layer, x, T, refs), { T, trial }));
  setThreads(DEFAULT_THREADS);
  if (DEFAULT_ISA !== 'scalar') {
    const Ts = stepsFor(trial, 'rnnx-scalar');
    const ref = refFor(trial, layer, x, Ts, refs);
    setCpuIsa('scalar');
    R['rnnx-scalar'] = await guarded('rnnx-scalar', () => checkAndTime('rnnx-scalar', makeRnnxRunner(trial, layer, x, Ts), ref, { T: Ts, trial }));
    setCpuIsa(DEFAULT_ISA);
  }

  if (trial.reportFlops) {
    // GFLOP/s as CONFIGS.md counts FLOPs, and the fraction of the FMA peak measured now at the same
    // thread count (best of a few short tries).
    for (const [key, threads] of [['rnnx', DEFAULT_THREADS], ['rnnx-1t', 1]]) {
      const r = R[key];
      if (r.status !== 'ok') continue;
      r.gflops = row.flops / (r.medianMs * 1e6);
      r.peakGflops = fmaPeak(threads);
      r.peakThreads = threads;
      if (r.peakGflops) r.fractionOfPeak = r.gflops / r.peakGflops;
      log(`${key}: ${r.gflops.toFixed(1)} GFLOP/s; FMA peak at ${threads} thread(s): ${r.peakGflops ? r.peakGflops.toFixed(1) : 'n/a'}`);
    }
  }

  // GRU: tfjs knows only the reset-before variant; rnnx runs it too, on the same weights.
  let rb = null;
  if (cell === 'gru' && !args['no-tfjs']) {
    rb = layerFrom(trial, sd, { linearBeforeReset: false });
    const rbRefs = new Map();
    R['rnnx-rb'] = await guarded('rnnx-rb', async () => {
      const r = makeRnnxRunner(trial, rb, x, T);
      const t0 = performance.now();
      r.check();
      const m = await measure('rnnx-rb', r.call, budgetFor(Math.min(performance.now() - t0, await probe(r.call)), BUDGET));
      r.release();
      log(`rnnx-rb (GRU reset-before): ${m.medianMs.toFixed(4)} ms`);
      return { status: 'ok', medianMs: m.medianMs, samples: m.samples, steps: T };
    });
    row.rbRefs = rbRefs;
    row.rbRef = (Tp) => refFor(trial, rb, x, Tp, rbRefs);
  }

  // onnxruntime-node, 1 thread and all cores.
  if (trial.mode === 'train') {
    R['ort-1t'] = R['ort-all'] = { status: 'n/a', note: 'ORT runs inference only' };
  } else if (!args['no-ort']) {
    const { makeOrtRunner } = await import('./peers/onnx.mjs');
    for (const [key, threads] of [['ort-1t', 1], ['ort-all', ALL]]) {
      R[key] = await guarded(key, async () => {
        const r = await makeOrtRunner(trial, sd, x, threads);
        return checkAndTime(key, streamAware(r, trial), refFor(trial, layer, x, T, refs), { T, trial });
      });
    }
  }

  // TensorFlow.js, cpu and wasm backends (prefixes for the big trials).
  if (!args['no-tfjs']) {
    const { makeTfRunner, useBackend } = await import('./peers/tfjs.mjs');
    for (const backend of ['cpu', 'wasm']) {
      const key = `tfjs-${backend}`;
      R[key] = await guarded(key, async () => {
        const desc = await useBackend(backend);
        const Tp = stepsFor(trial, key);
        const tsd = rb ? plainStateDict(rb) : sd;
        const ref = rb ? row.rbRef(Tp) : refFor(trial, layer, x, Tp, refs);
        const r = await makeTfRunner(trial, tsd, x, Tp);
        const res = await checkAndTime(key, streamAware(r, trial), ref, { T: Tp, trial });
        res.backend = desc;
        if (rb) res.vs = 'rnnx-rb';
        return res;
      });
    }
  }

  // PyTorch (optional).
  if (torch && torch.peer) {
    const res = await guarded('torch', () => torch.peer.run(trial, sd, x, { threads: [1, ALL], budgetMs: BUDGET, checkSteps: CHECK_STEPS }));
    if (res.status === 'error') {
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

  delete row.rbRefs;
  delete row.rbRef;
  layer.dispose();
  rb?.dispose();
  return row;
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
  for (const t of trials) rows.push(await runTrial(t, torch));
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
