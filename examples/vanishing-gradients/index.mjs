// Vanishing gradients: a vanilla RNN forgets, an LSTM and a GRU remember.
//
//   node examples/vanishing-gradients/index.mjs
//
// Task, "recall the first token": T steps of F = 8 features. Step 0 carries one of K = 4 classes
// as a one-hot in features 0..3; steps 1..T-1 carry Gaussian noise in features 4..7 (features
// 0..3 stay zero). The target is the class seen at step 0, read from the last hidden state.
//
// 1. For each cell (rnn, lstm, gru) and each length T: train the same model shape with the same
//    budget (examples, epochs, batch size, Adam lr, clipping), record validation accuracy.
// 2. At the longest T, measure ||dL/dh_t|| for every step t, with the per-step state gradients of
//    the layer's BPTT (tape.backward(..., { stateGrads: true })), for the freshly initialised model,
//    the model trained at T = 20 (plotted) and the model trained at the longest T (results.json).
// 3. Write vanishing-gradients.svg (+ .png when rsvg-convert exists) and results.json; print a table.
//
// Environment (used by the test for a reduced run): VG_TS="10,20" (lengths), VG_EPOCHS, VG_TRAIN
// (training examples), VG_VAL, VG_OUT (output folder; default: this folder), VG_QUIET=1,
// VG_CELLS="lstm,gru", VG_GATE_BIAS (initial keep-gate bias of the gated cells), VG_GRAD_T (the
// training length of the gradient panel's trained models; default 20, else the shortest length).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GRU, LSTM, RNN, SequentialModel, Tensor, evaluate, fit, getBackendInfo } from 'rnnx';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const list = (s, d) => (s ? s.split(',').map(Number) : d);

const LENGTHS = list(env.VG_TS, [10, 20, 40, 80, 120]);
const CONFIG = {
  K: 4, // classes
  F: 8, // features per step: 0..3 the class one-hot (step 0), 4..7 noise (steps 1..)
  H: 32, // hidden size
  lengths: LENGTHS,
  train: Number(env.VG_TRAIN ?? 2048),
  val: Number(env.VG_VAL ?? 512),
  epochs: Number(env.VG_EPOCHS ?? 30),
  batchSize: 32,
  lr: 3e-3,
  clipNorm: 1,
  // Gated cells start with their "keep" gate open: LSTM forget-gate bias and GRU update-gate bias
  // set to +3 (sigmoid(3) = 0.95), the usual practice (Keras' unit_forget_bias uses +1; with +1 or
  // +2 the LSTM did not learn T = 80 within this budget). The vanilla RNN has no such gate.
  keepGateBias: Number(env.VG_GATE_BIAS ?? 3),
  gradBatch: 64,
  // The gradient panel's trained models: those trained at this length (one every cell learns),
  // measured at the longest length. Models trained at the longest length are in results.json too.
  gradTrainedT: Number(env.VG_GRAD_T ?? (LENGTHS.includes(20) ? 20 : LENGTHS[0])),
  seed: 1,
};
const CELLS = env.VG_CELLS ? env.VG_CELLS.split(',') : ['rnn', 'lstm', 'gru'];
const LAYERS = { rnn: RNN, lstm: LSTM, gru: GRU };
const outDir = env.VG_OUT ?? here;
const quiet = env.VG_QUIET === '1';
const log = (...a) => {
  if (!quiet) console.log(...a);
};

/** mulberry32: a small seeded generator in [0, 1). */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n sequences of length T for the recall task; inputs are T*F values each (batch-free layout). */
export function makeRecallData(n, T, seed, { K = CONFIG.K, F = CONFIG.F } = {}) {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const inputs = [];
  const targets = [];
  for (let i = 0; i < n; i++) {
    const x = new Float32Array(T * F);
    const y = Math.floor(r() * K);
    x[y] = 1;
    for (let t = 1; t < T; t++) for (let k = K; k < F; k++) x[t * F + k] = gauss();
    inputs.push(x);
    targets.push(y);
  }
  return { inputs, targets };
}

function description(cell) {
  const { F, H, K } = CONFIG;
  return {
    version: 1,
    input: { type: 'features', size: F },
    layers: [
      { type: cell, name: 'rnn', hidden_size: H },
      { type: 'pool', mode: 'last' },
      { type: 'dense', name: 'fc', in_features: H, out_features: K },
      { type: 'softmax' },
    ],
  };
}

/** A fresh model; gated cells get their keep-gate bias (see CONFIG.keepGateBias). */
function createModel(cell, seed) {
  const m = SequentialModel.create(description(cell), { seed });
  if (cell === 'rnn' || !CONFIG.keepGateBias) return m;
  // PyTorch layouts: LSTM gates i, f, g, o; GRU gates r, z, n. Rows H..2H are f (LSTM) / z (GRU).
  const { H } = CONFIG;
  const sd = m.stateDict();
  const bih = sd.get('rnn.bias_ih_l0').data;
  const bhh = sd.get('rnn.bias_hh_l0').data;
  for (let i = H; i < 2 * H; i++) {
    bih[i] = CONFIG.keepGateBias;
    bhh[i] = 0;
  }
  m.dispose();
  return SequentialModel.fromTensors(description(cell), sd);
}

/**
 * ||dL/dh_t|| for t = 1..T (mean over the batch of the L2 norm over the hidden units): the
 * model's recurrent weights copied into a standalone layer, the head's gradient at h_T computed
 * here, then BPTT with per-step state gradients.
 */
function stateGradNorms(model, cell, data) {
  const { F, H, K } = CONFIG;
  const sd = model.stateDict();
  const weights = {};
  for (const [k, v] of sd) if (k.startsWith('rnn.')) weights[k.slice(4)] = v;
  const layer = LAYERS[cell].fromStateDict(weights, { inputSize: F, hiddenSize: H });
  const B = data.inputs.length;
  const T = data.inputs[0].length / F;
  const x = new Float32Array(T * B * F); // time-major [T, B, F]
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) x.set(data.inputs[b].subarray(t * F, (t + 1) * F), (t * B + b) * F);
  const tape = layer.forward(new Tensor(x, [T, B, F]), { requiresGrad: true });
  const h = tape.h.data; // [1, B, H]
  const W = sd.get('fc.weight').data; // [K, H]
  const bias = sd.get('fc.bias').data; // [K]
  const gH = new Float32Array(B * H);
  let loss = 0;
  for (let b = 0; b < B; b++) {
    const z = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let s = bias[k];
      for (let j = 0; j < H; j++) s += W[k * H + j] * h[b * H + j];
      z[k] = s;
    }
    const mx = Math.max(...z);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += (z[k] = Math.exp(z[k] - mx));
    const y = data.targets[b];
    loss -= Math.log(z[y] / sum) / B;
    for (let k = 0; k < K; k++) {
      const g = (z[k] / sum - (k === y ? 1 : 0)) / B; // dL/dlogit_k, mean over the batch
      for (let j = 0; j < H; j++) gH[b * H + j] += W[k * H + j] * g;
    }
  }
  const g = tape.backward({ h: new Tensor(gH, [1, B, H]) }, { stateGrads: true });
  const s = g.stateGrads.data; // [1, T, B, H]
  const norms = [];
  for (let t = 0; t < T; t++) {
    let acc = 0;
    for (let b = 0; b < B; b++) {
      let q = 0;
      for (let j = 0; j < H; j++) q += s[(t * B + b) * H + j] ** 2;
      acc += Math.sqrt(q);
    }
    norms.push(acc / B);
  }
  layer.dispose();
  return { norms, loss };
}

// ---------------------------------------------------------------------------------------------
// The chart: an SVG drawn by hand (two panels).

const COLORS = { rnn: '#d62728', lstm: '#1f77b4', gru: '#2ca02c' };
const NAMES = { rnn: 'RNN (tanh)', lstm: 'LSTM', gru: 'GRU' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v === 0 ? '0' : Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(0).replace('e+', 'e') : String(+v.toPrecision(3)));

function text(x, y, s, { size = 12, anchor = 'middle', weight = 'normal', rotate = 0, fill = '#222' } = {}) {
  const tr = rotate ? ` transform="rotate(${rotate} ${x} ${y})"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" text-anchor="${anchor}" font-weight="${weight}" fill="${fill}"${tr}>${esc(s)}</text>`;
}

function polyline(points, color, { dash = '', width = 2 } = {}) {
  const d = points.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
  return `<path d="${d}" fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''} stroke-linejoin="round"/>`;
}

/** One panel's frame, grid and ticks; returns { svg, px, py } mapping data to pixels. */
function panel({ x0, y0, w, h, xr, yr, xlog = false, ylog = false, xticks, yticks, xlabel, ylabel, title }) {
  const tx = (v) => (xlog ? Math.log10(v) : v);
  const ty = (v) => (ylog ? Math.log10(v) : v);
  const px = (v) => x0 + ((tx(v) - tx(xr[0])) / (tx(xr[1]) - tx(xr[0]))) * w;
  const py = (v) => y0 + h - ((ty(v) - ty(yr[0])) / (ty(yr[1]) - ty(yr[0]))) * h;
  const out = [`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fff" stroke="#444"/>`];
  for (const v of yticks) {
    const y = py(v);
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<line x1="${x0 - 5}" x2="${x0}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#444"/>`);
    out.push(text(x0 - 8, y + 4, ylog ? `1e${Math.round(Math.log10(v))}` : fmt(v), { anchor: 'end', size: 11 }));
  }
  for (const v of xticks) {
    const x = px(v);
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y0}" y2="${y0 + h}" stroke="#efefef"/>`);
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y0 + h}" y2="${y0 + h + 5}" stroke="#444"/>`);
    out.push(text(x, y0 + h + 18, fmt(v), { size: 11 }));
  }
  out.push(text(x0 + w / 2, y0 + h + 38, xlabel, { size: 13 }));
  out.push(text(x0 - 52, y0 + h / 2, ylabel, { size: 13, rotate: -90 }));
  out.push(text(x0 + w / 2, y0 - 12, title, { size: 14, weight: 'bold' }));
  return { svg: out, px, py };
}

/** A legend box of `cols` columns of `colW` pixels. */
function legend(x, y, items, cols = 1, colW = 170) {
  const rows = Math.ceil(items.length / cols);
  const out = [`<rect x="${x}" y="${y}" width="${cols * colW + 6}" height="${rows * 18 + 8}" fill="#fff" stroke="#bbb"/>`];
  items.forEach((it, i) => {
    const xx = x + Math.floor(i / rows) * colW;
    const yy = y + 15 + (i % rows) * 18;
    out.push(`<line x1="${xx + 8}" x2="${xx + 36}" y1="${yy - 4}" y2="${yy - 4}" stroke="${it.color}" stroke-width="2"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''}/>`);
    if (it.marker) out.push(`<circle cx="${xx + 22}" cy="${yy - 4}" r="3.5" fill="${it.color}"/>`);
    out.push(text(xx + 44, yy, it.label, { anchor: 'start', size: 11.5 }));
  });
  return out;
}

export function renderSvg(results) {
  const W = 1160;
  const Hgt = 590;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Hgt}" viewBox="0 0 ${W} ${Hgt}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${Hgt}" fill="#fafafa"/>`,
    text(W / 2, 28, 'Vanishing gradients: a vanilla RNN forgets, gated cells remember', { size: 18, weight: 'bold' }),
    text(W / 2, 48, `task: recall the class given at step 0 after T − 1 steps of noise (K = ${results.config.K} classes, hidden size ${results.config.H})`, { size: 12, fill: '#555' }),
  ];
  // left: ||dL/dh_t|| against t, log y
  const g = results.gradients;
  const T = g.T;
  const all = [];
  // each curve divided by its value at t = T: the plot shows how much of the gradient survives
  const rel = (n) => n.map((v) => v / n[n.length - 1]);
  for (const c of CELLS) for (const k of ['initial', 'trained']) for (const v of rel(g[c][k].norms)) if (v > 0 && Number.isFinite(v)) all.push(v);
  const lo = Math.floor(Math.log10(Math.min(...all)));
  const hi = Math.ceil(Math.log10(Math.max(...all)));
  const step = Math.max(1, Math.ceil((hi - lo) / 10));
  const yticks = [];
  for (let e = lo; e <= hi; e += step) yticks.push(10 ** e);
  const xt = [];
  const xstep = T <= 20 ? 2 : T <= 60 ? 10 : 20;
  for (let t = 1; t <= T; t += t === 1 ? xstep - 1 : xstep) xt.push(t);
  const L = panel({
    x0: 90, y0: 90, w: 440, h: 330, xr: [1, T], yr: [10 ** lo, 10 ** (lo + Math.ceil((hi - lo) / step) * step)], ylog: true,
    xticks: xt, yticks, xlabel: `step t (T = ${T})`, ylabel: '‖∂L/∂hₜ‖ / ‖∂L/∂h_T‖', title: 'Gradient reaching each hidden state',
  });
  parts.push(...L.svg);
  for (const c of CELLS)
    for (const [k, dash] of [['initial', '5,4'], ['trained', '']]) {
      const pts = rel(g[c][k].norms).map((v, i) => [L.px(i + 1), L.py(Math.max(v, 10 ** lo))]);
      parts.push(polyline(pts, COLORS[c], { dash, width: k === 'trained' ? 2.2 : 1.6 }));
    }
  parts.push(
    ...legend(90, 472, [
      ...CELLS.map((c) => ({ color: COLORS[c], label: `${NAMES[c]}, trained at T=${g.trainedAt}` })),
      ...CELLS.map((c) => ({ color: COLORS[c], dash: '5,4', label: `${NAMES[c]}, initial` })),
    ], 2, 217),
  );
  // right: validation accuracy against T
  const Ts = results.config.lengths;
  const R = panel({
    x0: 670, y0: 90, w: 440, h: 330, xr: [Ts[0] * 0.85, Ts.at(-1) * 1.15], yr: [0, 1.02], xlog: Ts.length > 1 && Ts.at(-1) / Ts[0] >= 4,
    xticks: Ts, yticks: [0, 0.25, 0.5, 0.75, 1], xlabel: 'sequence length T (log scale)', ylabel: 'validation accuracy', title: 'Recall accuracy after training',
  });
  parts.push(...R.svg);
  const chance = 1 / results.config.K;
  parts.push(`<line x1="670" x2="1110" y1="${R.py(chance).toFixed(1)}" y2="${R.py(chance).toFixed(1)}" stroke="#777" stroke-dasharray="6,4"/>`);
  parts.push(text(676, R.py(chance) - 6, `chance (1/${results.config.K})`, { anchor: 'start', size: 11, fill: '#555' }));
  CELLS.forEach((c, ci) => {
    const pts = results.accuracy.filter((r) => r.cell === c).map((r) => [R.px(r.T) + (ci - 1) * 3, R.py(r.valAccuracy)]);
    parts.push(polyline(pts, COLORS[c]));
    for (const [x, y] of pts) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" fill="${COLORS[c]}" stroke="#fff"/>`);
  });
  parts.push(...legend(670, 472, CELLS.map((c) => ({ color: COLORS[c], marker: true, label: NAMES[c] })), 3, 146));
  const b = results.backend;
  const cf = results.config;
  parts.push(text(W / 2, Hgt - 26, `same budget for every cell: ${cf.train} training sequences × ${cf.epochs} epochs, batch ${cf.batchSize}, Adam lr ${cf.lr}, clip-norm ${cf.clipNorm}; LSTM forget / GRU update gate bias +${cf.keepGateBias} at init`, { size: 10.5, fill: '#666' }));
  parts.push(text(W / 2, Hgt - 10, `left: BPTT through T = ${T} steps on ${g.batch} sequences, normalised to 1 at t = T; dashed = freshly initialised, solid = trained at T = ${g.trainedAt}; rnnx ${b.version}, CPU ${b.isa}, ${b.threads} threads`, { size: 10.5, fill: '#666' }));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

export async function main() {
  const t0 = performance.now();
  const info = getBackendInfo();
  const backend = { version: info.version, isa: info.cpu.selected, threads: info.threads };
  log(`rnnx ${backend.version}: CPU ISA ${backend.isa}, ${backend.threads} threads`);
  const C = CONFIG;
  const Tmax = Math.max(...C.lengths);
  const accuracy = [];
  const trainedAtTmax = {};
  const trainedShort = {};
  if (!C.lengths.includes(C.gradTrainedT)) throw new Error(`VG_GRAD_T=${C.gradTrainedT} is not one of the lengths ${C.lengths}`);
  for (const cell of CELLS) {
    for (const T of C.lengths) {
      const train = makeRecallData(C.train, T, 1000 + T);
      const val = makeRecallData(C.val, T, 2000 + T);
      const model = createModel(cell, C.seed);
      const ts = performance.now();
      const hist = await fit(model, train, {
        epochs: C.epochs,
        batchSize: C.batchSize,
        optimizer: { type: 'adam', lr: C.lr },
        clipNorm: C.clipNorm,
        validation: val,
        seed: C.seed,
      });
      const ev = await evaluate(model, val);
      const row = {
        cell,
        T,
        valAccuracy: ev.accuracy,
        valLoss: ev.loss,
        trainAccuracy: hist.epochs.at(-1).accuracy,
        valAccuracyByEpoch: hist.epochs.map((e) => e.valAccuracy),
        seconds: +((performance.now() - ts) / 1000).toFixed(2),
      };
      accuracy.push(row);
      log(`  ${cell.padEnd(4)} T=${String(T).padStart(3)}  val acc ${ev.accuracy.toFixed(3)}  (${row.seconds.toFixed(1)} s)`);
      if (T === Tmax) trainedAtTmax[cell] = model;
      if (T === C.gradTrainedT) trainedShort[cell] = model;
      if (T !== Tmax && T !== C.gradTrainedT) model.dispose();
    }
  }
  // gradient norms at the longest length, on a fixed batch of validation sequences
  const gdata = makeRecallData(C.gradBatch, Tmax, 3000 + Tmax);
  const gradients = { T: Tmax, batch: C.gradBatch, trainedAt: C.gradTrainedT };
  for (const cell of CELLS) {
    const init = createModel(cell, C.seed);
    const gi = stateGradNorms(init, cell, gdata);
    init.dispose();
    const gs = stateGradNorms(trainedShort[cell], cell, gdata);
    const gt = stateGradNorms(trainedAtTmax[cell], cell, gdata);
    trainedShort[cell].dispose();
    if (trainedAtTmax[cell] !== trainedShort[cell]) trainedAtTmax[cell].dispose();
    const ratio = (n) => n[0] / n[n.length - 1];
    const entry = (r) => ({ norms: r.norms, loss: r.loss, ratioFirstToLast: ratio(r.norms) });
    gradients[cell] = { initial: entry(gi), trained: entry(gs), trainedAtLongest: entry(gt) };
  }
  const seconds = +((performance.now() - t0) / 1000).toFixed(1);
  const results = {
    task: 'recall the class (one-hot, features 0..3) given at step 0 after T-1 steps of Gaussian noise (features 4..7)',
    config: { ...C, cells: CELLS },
    backend,
    accuracy,
    gradients,
    gradientNote: '||dL/dh_t|| = batch mean of the L2 norm over hidden units; t = 1..T; ratioFirstToLast = ||dL/dh_1|| / ||dL/dh_T||',
    seconds,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  const svgPath = join(outDir, 'vanishing-gradients.svg');
  writeFileSync(svgPath, renderSvg(results));
  let png = null;
  try {
    execFileSync('rsvg-convert', ['-o', join(outDir, 'vanishing-gradients.png'), svgPath], { stdio: 'ignore' });
    png = join(outDir, 'vanishing-gradients.png');
  } catch {
    // rsvg-convert is optional: the SVG is the chart
  }

  // the table
  log('');
  log(`validation accuracy (chance ${(1 / C.K).toFixed(2)})`);
  log(`${'T'.padStart(5)}  ${CELLS.map((c) => c.toUpperCase().padStart(6)).join('  ')}`);
  for (const T of C.lengths)
    log(`${String(T).padStart(5)}  ${CELLS.map((c) => accuracy.find((r) => r.cell === c && r.T === T).valAccuracy.toFixed(3).padStart(6)).join('  ')}`);
  log('');
  log(`gradient norm ratio ||dL/dh_1|| / ||dL/dh_T|| at T = ${Tmax} (1 = no decay)`);
  log(`${'cell'.padEnd(6)}${'initial'.padStart(12)}${`trained@${C.gradTrainedT}`.padStart(14)}${`trained@${Tmax}`.padStart(14)}`);
  for (const c of CELLS) {
    const r = (k, w) => gradients[c][k].ratioFirstToLast.toExponential(2).padStart(w);
    log(`${c.toUpperCase().padEnd(6)}${r('initial', 12)}${r('trained', 14)}${r('trainedAtLongest', 14)}`);
  }
  log('');
  log(`wrote ${join(outDir, 'results.json')}, ${svgPath}${png ? `, ${png}` : ' (no rsvg-convert: no PNG)'}; ${seconds} s`);
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
