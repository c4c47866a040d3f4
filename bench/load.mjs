#!/usr/bin/env node
/**
 * Load-time benchmark: how long loadModel(path) takes for rnnx-loadable safetensors layer models
 * of about 1, 10, 100 and 300 MB (a single-layer PyTorch LSTM with input_size = hidden_size, in
 * the layout of ../shared/fixtures/layers: weights under PyTorch's names, the configuration in
 * `__metadata__`), from a warm page cache. Each timed call is loadModel(path) then dispose();
 * reported: median ms, MB/s against the file size, and the median of the read + parse step alone
 * (readSafetensors + entryToFloat32 views), so the rest is the native layer's construction.
 *
 *   node bench/load.mjs [--sizes 1,10,100,300] [--json out.json]
 *
 * Needs the built library (npm run build) and addon (build/Release or RNNX_BINARY).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getBackendInfo, loadModel } from '../dist/index.js';
import { entryToFloat32, readSafetensors, serializeSafetensors } from '../dist/io/safetensors.js';
import { cpuFacts } from './lib/util.mjs';

const { values: args } = parseArgs({ options: { sizes: { type: 'string', default: '1,10,100,300' }, json: { type: 'string' } } });
const sizesMB = args.sizes.split(',').map(Number).filter((n) => n > 0);


/** An LSTM layer file of about `mb` MB: 4H x H input and recurrent weights, two 4H biases. */
function writeLstm(file, mb) {
  const H = Math.max(8, Math.round(Math.sqrt((mb * 1e6) / 32)));
  let s = 0x9e3779b9 ^ H;
  const fill = (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      a[i] = ((s >>> 0) / 4294967296 - 0.5) / Math.sqrt(H);
    }
    return a;
  };
  const t = (shape) => ({ dtype: 'F32', shape, data: fill(shape.reduce((x, y) => x * y, 1)) });
  const meta = { cell: 'lstm', input_size: H, hidden_size: H, proj_size: 0, num_layers: 1, bidirectional: false, batch_first: false, bias: true };
  const bytes = serializeSafetensors(
    { weight_ih_l0: t([4 * H, H]), weight_hh_l0: t([4 * H, H]), bias_ih_l0: t([4 * H]), bias_hh_l0: t([4 * H]) },
    Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, JSON.stringify(v)])),
  );
  writeFileSync(file, bytes);
  return H;
}

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};

async function timeIt(fn, runs) {
  await fn(); // warm-up (page cache, JIT)
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms;
}

const info = getBackendInfo();
const cpu = cpuFacts();
console.log(`# rnnx load-time benchmark — ${new Date().toISOString().slice(0, 10)}`);
console.log(`- CPU: ${cpu.model}, ${cpu.cores} logical cores (${cpu.simd.join(' ') || 'no AVX'}); ${cpu.memGiB} GiB; 1-min load average ${os.loadavg()[0].toFixed(2)}`);
console.log(`- Node ${process.version}; rnnx ${info.version}: ISA selected ${info.cpu.selected} (supported ${info.cpu.supported.join(', ')}; compiled ${info.cpu.compiled.join(', ')}), threads ${info.threads}`);
console.log('- loadModel(path) + dispose(), warm page cache; medians\n');

const dir = mkdtempSync(path.join(os.tmpdir(), 'rnnx-loadbench-'));
const rows = [];
try {
  console.log('| model | file MB | runs | loadModel median ms | MB/s | read+parse median ms | parse MB/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const mb of sizesMB) {
    const file = path.join(dir, `lstm_${mb}mb.safetensors`);
    const H = writeLstm(file, mb);
    const size = statSync(file).size;
    const runs = mb <= 1 ? 31 : mb <= 10 ? 15 : mb <= 100 ? 7 : 5;
    const load = await timeIt(async () => {
      const m = await loadModel(file);
      m.dispose();
    }, runs);
    const parse = await timeIt(async () => {
      const f = await readSafetensors(file);
      for (const e of f.tensors.values()) entryToFloat32(e);
    }, runs);
    const row = { model: `LSTM I=H=${H}`, fileBytes: size, runs, loadMs: median(load), parseMs: median(parse) };
    rows.push(row);
    const mbps = (ms) => (size / 1e6 / (ms / 1e3)).toFixed(0);
    console.log(
      `| ${row.model} | ${(size / 1e6).toFixed(1)} | ${runs} | ${row.loadMs.toFixed(2)} | ${mbps(row.loadMs)} | ${row.parseMs.toFixed(2)} | ${mbps(row.parseMs)} |`,
    );
    rmSync(file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (args.json) writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), cpu, node: process.version, rnnx: info, rows }, null, 2));
