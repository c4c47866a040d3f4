import { readdirSync, readFileSync } from 'node:fs';
import { TRIALS } from './trials.mjs';
import { makeLayer, makeRnnxRunner, plainStateDict, setThreads } from './peers/rnnx.mjs';
import { makeOrtRunner } from './peers/onnx.mjs';
const id = process.argv[2] || 'C5';
const trial = TRIALS.find((t) => t.id === id);
const layer = makeLayer(trial, 1);
const x = new Float32Array(trial.T * trial.B * trial.I).map(() => Math.random() - 0.5);
const rn = makeRnnxRunner(trial, layer, x, trial.T);
const ort = await makeOrtRunner(trial, plainStateDict(layer), x, 2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function cpu() { const o = {}; for (const t of readdirSync('/proc/self/task')) { const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1].split(' '); o[t] = +f[11] + +f[12]; } return o; }
function timeRnnx(ms) { const ts = []; const end = performance.now() + ms; while (performance.now() < end) { const t0 = performance.now(); rn.call(); ts.push(performance.now() - t0); } ts.sort((a, b) => a - b); return (ts[ts.length >> 1] * 1000).toFixed(0); }
async function timeOrt(ms) { const end = performance.now() + ms; while (performance.now() < end) await ort.call(); }
for (let r = 0; r < 5; r++) {
  setThreads(2); const a = timeRnnx(300); await sleep(50);
  setThreads(1); const b = timeRnnx(300); await sleep(50); setThreads(2);
  await timeOrt(300); await sleep(50);
  const c0 = cpu(); const m = timeRnnx(300); const c1 = cpu();
  const busy = Object.keys(c1).map((k) => c1[k] - (c0[k] ?? 0)).filter((d) => d > 0);
  console.log('2t', a, '1t', b, '2t after ort', m, 'ticks per thread', JSON.stringify(busy));
  await sleep(50);
}
