#!/usr/bin/env node
/**
 * rnnx benchmark harness (issue 3): every configuration of shared/bench/CONFIGS.md, rnnx against
 * onnxruntime-node, TensorFlow.js (cpu, wasm), PyTorch (optional) and brain.js (note), identical weights,
 * outputs checked before timing.
 *
 *   npm run bench                          # from the repository root (installs bench/ deps first)
 *   node bench/index.mjs [--quick] [--only C1,C2-lstm] [--budget MS] [--no-torch] [--no-tfjs] [--no-ort] [--no-brain]
 *                        [--openblas-coretype NAME] [--out bench/results]
 *
 * One child process per config group (C1, C2, C3, C5, C4); in each, rnnx and every peer run in turn on
 * the same data. Prints a markdown report to stdout (progress goes to stderr) and writes
 * <out>/latest.json and <out>/ratios.svg.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuFacts } from './lib/util.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    budget: { type: 'string' },
    out: { type: 'string', default: path.join(HERE, 'results') },
    'no-torch': { type: 'boolean', default: false },
    'no-tfjs': { type: 'boolean', default: false },
    'no-ort': { type: 'boolean', default: false },
    'no-brain': { type: 'boolean', default: false },
    'openblas-coretype': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
  process.exit(0);
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

if (!existsSync(path.join(ROOT, 'dist', 'index.js'))) fail('dist/ is missing: run `npm install` (or `npx tsc -p tsconfig.json`) in the repository root first');
for (const dep of ['tinybench', 'onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'brain.js']) {
  if (!existsSync(path.join(HERE, 'node_modules', dep, 'package.json'))) fail(`bench dependency ${dep} is missing: run \`npm --prefix bench install\` (or \`npm run bench\` from the root)`);
}

const { GROUPS, TRIALS } = await import('./trials.mjs');
const { markdown, svgChart } = await import('./lib/report.mjs');
const { getBackendInfo } = await import('./peers/rnnx.mjs');
const { fmaPeak, handoffNs } = await import('./peers/rnnx.mjs');

const only = args.only ? args.only.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : null;
if (only) {
  const known = new Set(TRIALS.flatMap((t) => [t.id.toLowerCase(), t.group.toLowerCase()]));
  const bad = only.filter((o) => !known.has(o));
  if (bad.length) fail(`--only: unknown ${bad.join(', ')} (known: ${[...new Set(TRIALS.flatMap((t) => [t.group, t.id]))].join(', ')})`);
}
const groups = GROUPS.filter((g) => !only || TRIALS.some((t) => t.group === g && (only.includes(g.toLowerCase()) || only.includes(t.id.toLowerCase()))));

// ---------------------------------------------------------------- header facts

const started = Date.now();
const loadStart = os.loadavg()[0];
const require = createRequire(import.meta.url);
const pkgVersion = (name) => {
  try {
    return require(path.join(HERE, 'node_modules', name, 'package.json')).version;
  } catch {
    return 'missing';
  }
};


// One binary for the whole run: the addon the parent loads is copied and handed to every child
// (RNNX_BINARY), so a rebuild of build/ during the run cannot change or remove it under them.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'rnnx-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const { resolveBindingPath } = await import('../dist/native/binding.js');
let bindingPath;
try {
  bindingPath = resolveBindingPath();
} catch (e) {
  fail(`no rnnx native addon found (${String(e.message).split('\n')[0]}): build it in the root (npm install, or node-gyp rebuild)`);
}
const snapshot = path.join(tmp, 'rnnx.node');
copyFileSync(bindingPath, snapshot);
process.env.RNNX_BINARY = snapshot;

const info = getBackendInfo();
const cpu = cpuFacts();

// PyTorch: checked once here; the children start it only when it imports.
let torchState = { ok: false, why: 'disabled (--no-torch)' };
if (!args['no-torch']) {
  const { torchAvailable } = await import('./peers/torch.mjs');
  torchState = torchAvailable();
  if (!torchState.ok) process.stderr.write(`bench: PyTorch peer off: ${torchState.why}\n`);
}

const peak = { 1: fmaPeak(1), [String(info.threads)]: fmaPeak(info.threads) };
const handoffStart = handoffNs();

// ---------------------------------------------------------------- the groups

function runGroup(group, tmp) {
  const out = path.join(tmp, `${group}.json`);
  const childArgs = [path.join(HERE, 'run-group.mjs'), '--group', group, '--out', out];
  if (args.quick) childArgs.push('--quick');
  if (args.only) childArgs.push('--only', args.only);
  if (args.budget) childArgs.push('--budget', args.budget);
  for (const f of ['no-tfjs', 'no-ort', 'no-brain']) if (args[f]) childArgs.push(`--${f}`);
  if (args['openblas-coretype']) childArgs.push('--openblas-coretype', args['openblas-coretype']);
  const env = { ...process.env };
  if (torchState.ok) env.RNNX_BENCH_TORCH = '1';
  else env.RNNX_BENCH_TORCH_WHY = `PyTorch not available: ${torchState.why}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, childArgs, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'pipe'] });
    let tail = '';
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) {
        tail = (tail + l + '\n').slice(-3000);
        // tfjs's banners (tfjs-node advert, '====' frames) are noise here.
        if (/^=+$|tfjs-node|^\s*$/.test(l)) continue;
        process.stderr.write(`${l}\n`);
      }
    });
    const limit = setTimeout(() => child.kill('SIGKILL'), 20 * 60 * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      if (code === 0 && existsSync(out)) return resolve(JSON.parse(readFileSync(out, 'utf8')));
      process.stderr.write(`bench: group ${group} failed (${signal ?? `exit ${code}`})\n`);
      resolve({ group, rows: [], extra: {}, error: `${signal ?? `exit ${code}`}: ${tail.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

const results = [];
for (const g of groups) {
  const t0 = Date.now();
  process.stderr.write(`bench: group ${g} ...\n`);
  results.push(await runGroup(g, tmp));
  process.stderr.write(`bench: group ${g} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

// ---------------------------------------------------------------- report

const rows = results.flatMap((r) => r.rows);
const extra = Object.assign({}, ...results.map((r) => r.extra));
const tfDesc = rows.map((r) => r.results['tfjs-wasm']?.backend).find(Boolean) ?? 'wasm';
const peers = [];
if (!args['no-ort']) peers.push(`onnxruntime-node ${pkgVersion('onnxruntime-node')} CPU EP (intra-op 1 and ${Math.max(2, cpu.cores)} threads, ONNX opset 14 node built in memory)`);
if (!args['no-tfjs']) peers.push(`@tensorflow/tfjs ${pkgVersion('@tensorflow/tfjs')} (cpu backend; ${tfDesc} backend ${pkgVersion('@tensorflow/tfjs-backend-wasm')})`);
if (extra.torch) {
  const blas = String(extra.torch.blas);
  const isOpenBlas = /openblas/i.test(blas);
  peers.push(
    `PyTorch ${extra.torch.torch} (${path.basename(blas)}${isOpenBlas && extra.torch.openblas_coretype ? `, OPENBLAS_CORETYPE=${extra.torch.openblas_coretype}` : ''}; 1 and ${Math.max(2, cpu.cores)} threads)` +
      (isOpenBlas ? '' : ' — **reference BLAS, not representative**: install libopenblas0-pthread or set RNNX_BENCH_OPENBLAS to a directory holding OpenBLAS\'s libblas.so.3'),
  );
}
else peers.push(`PyTorch: ${torchState.ok ? 'failed to start' : torchState.why}`);
if (extra.brain) peers.push(`brain.js ${pkgVersion('brain.js')} (note only)`);

const now = new Date(started);
const doc = {
  header: {
    date: `${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    mode: `${args.quick ? 'quick' : 'full'}${args.only ? `, only ${args.only}` : ''}`,
    durationS: (Date.now() - started) / 1000,
    loadAvg: { start: loadStart, end: os.loadavg()[0] },
    cpu,
    node: process.version,
    rnnx: { ...info, binary: path.relative(ROOT, bindingPath) },
    fmaPeak: peak['1'] ? peak : null,
    handoffNs: handoffStart === null ? null : { start: handoffStart, end: handoffNs() },
    peers,
    budgetMs: Number(args.budget ?? (args.quick ? 300 : 1500)),
  },
  rows,
  extra,
  errors: results.filter((r) => r.error).map((r) => ({ group: r.group, error: r.error })),
};

const md = markdown(doc) + (doc.errors.length ? `\n## Failed groups\n\n${doc.errors.map((e) => `- ${e.group}: ${e.error}`).join('\n')}\n` : '');
process.stdout.write(`${md}\n`);
mkdirSync(args.out, { recursive: true });
writeFileSync(path.join(args.out, 'latest.json'), JSON.stringify(doc, null, 1));
writeFileSync(path.join(args.out, 'ratios.svg'), svgChart(doc));
writeFileSync(path.join(args.out, 'latest.md'), md);
process.stderr.write(`bench: wrote ${path.relative(process.cwd(), path.join(args.out, 'latest.json'))}, ratios.svg, latest.md (${doc.header.durationS.toFixed(0)} s)\n`);
process.exit(doc.errors.length ? 1 : 0);
