/** Small helpers shared by the harness: seeded data, timing through tinybench, error metrics, formatting. */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';

/** mulberry32 (rnnx's own seeded PRNG), enough for benchmark inputs. */
import { mulberry32 as rng } from '../../dist/random.js';
export { rng };

/** Float32Array of n values uniform in [-scale, scale). */
export function uniform(n, seed, scale = 1) {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/**
 * max |peer - ref| / max |ref| (the criterion of the brief: ≤ 1e-4 to count as a match).
 * Lengths must agree; a NaN anywhere gives Infinity.
 */
export function relErr(ref, got) {
  if (!got || ref.length !== got.length) return Infinity;
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const d = Math.abs(got[i] - r);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    if (Math.abs(r) > maxRef) maxRef = Math.abs(r);
  }
  return maxDiff / (maxRef || 1);
}

/** The largest relErr over matching named arrays ({ name: Float32Array }); also returns the worst name. */
export function relErrAll(ref, got) {
  let worst = 0;
  let worstName = null;
  for (const name of Object.keys(ref)) {
    const e = relErr(ref[name], got?.[name]);
    if (!(e <= worst)) {
      worst = e;
      worstName = name;
    }
  }
  return { err: worst, worst: worstName };
}

export const TOLERANCE = 1e-4;

/**
 * Times `fn` with tinybench (warmup on) and returns the median in ms and the sample count.
 * `time` (ms) and `iterations`: tinybench samples until both are reached. For slow functions pass
 * small values (iterations 1-3, time 0) to cap the cost.
 */
export async function measure(name, fn, { time = 1000, iterations = 10, warmup = true, warmupTime = 200, warmupIterations = 3, retain = false } = {}) {
  const bench = new Bench({ name, time, iterations, warmup, warmupTime, warmupIterations, throws: true, retainSamples: retain });
  bench.add(name, fn);
  await bench.run();
  const task = bench.tasks[0];
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`${name}: tinybench ended in state ${r.state}${r.error ? `: ${r.error.message}` : ''}`);
  const out = { medianMs: r.latency.p50, meanMs: r.latency.mean, samples: r.latency.samplesCount ?? task.runs, rme: r.latency.rme };
  if (retain) out.times = Array.from(r.latency.samples ?? []);
  return out;
}

/** The median of an array of numbers (not modified). */
export function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** A rough cost of one call (ms), from a single run, to size the timing budget. */
export async function probe(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Timing options that keep a task near `budgetMs` whatever one call costs (`oneCallMs` from a probe,
 * which also served as a first warmup): slow calls get 1-3 samples and no extra warmup; fast calls
 * get the whole budget, at least 5 samples, and a warmup of a fifth of the budget.
 */
export function budgetFor(oneCallMs, budgetMs) {
  if (oneCallMs * 5 > budgetMs) {
    return { time: 0, iterations: Math.max(1, Math.min(3, Math.floor(budgetMs / oneCallMs))), warmup: false };
  }
  return { time: budgetMs, iterations: 5, warmup: true, warmupTime: Math.min(250, budgetMs / 5), warmupIterations: 3 };
}

/** Time as a compact human string: µs below 1 ms, ms below 1 s, s above. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${sig(ms * 1000)} µs`;
  if (ms < 1000) return `${sig(ms)} ms`;
  return `${sig(ms / 1000)} s`;
}

/** Three significant digits (at most one decimal place above 100). */
export function sig(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose(a, rows, cols) {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** Reorders gate blocks: `src` is [G·H, ...rest] with blocks of `blockSize` elements; out block k = src block order[k]. */
export function reorderBlocks(src, blockSize, order) {
  const out = new Float32Array(order.length * blockSize);
  order.forEach((b, k) => out.set(src.subarray(b * blockSize, (b + 1) * blockSize), k * blockSize));
  return out;
}

/** [T, B, F] → [B, T, F] (and back with the same call, swapping T and B). */
export function swap01(a, T, B, F) {
  const out = new Float32Array(T * B * F);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) out.set(a.subarray((t * B + b) * F, (t * B + b + 1) * F), (b * T + t) * F);
  return out;
}

/** CPU model, cores, SIMD flags and memory of this machine (for the report header). */
export function cpuFacts() {
  let model = os.cpus()[0]?.model ?? 'unknown';
  let flags = [];
  try {
    const txt = readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.*)$/m.exec(txt)?.[1]?.trim() ?? model;
    flags = (/^flags\s*:\s*(.*)$/m.exec(txt)?.[1] ?? '').split(/\s+/);
  } catch {}
  const simd = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_tile'].filter((f) => flags.includes(f));
  return { model, cores: os.availableParallelism(), simd, memGiB: Math.round(os.totalmem() / 2 ** 30) };
}
