/** The report: markdown tables for stdout, and a hand-written SVG bar chart of rnnx / best peer. */
import { ENGINES } from '../trials.mjs';
import { fmtTime, sig } from './util.mjs';

const PEERS = ENGINES.filter((e) => e.peer);

/** The cell text of one engine result. */
export function cell(r) {
  if (!r) return '—';
  if (r.status === 'ok') return `${r.scaled ? '~' : ''}${fmtTime(r.medianMs)}`;
  if (r.status === 'mismatch') return `mismatch (${Number.isFinite(r.relErr) ? r.relErr.toExponential(1) : 'NaN'})`;
  if (r.status === 'error') return 'error';
  return '—';
}

/** The rnnx time a peer is compared with: the reset-before rnnx GRU for tfjs's GRU, else rnnx's default. */
export function baseFor(row, key) {
  const r = row.results;
  if (r[key]?.vs && r[r[key].vs]?.status === 'ok') return r[r[key].vs].medianMs;
  return r.rnnx?.status === 'ok' ? r.rnnx.medianMs : null;
}

/** rnnx / peer (time ratio; below 1 rnnx is faster), or null. */
export function ratio(row, key) {
  const p = row.results[key];
  const base = baseFor(row, key);
  if (!p || p.status !== 'ok' || !base) return null;
  return base / p.medianMs;
}

/** The fastest 'ok' engine among `keys` (peer ids): { key, ms } or null. */
export function fastest(row, keys) {
  let best = null;
  for (const k of keys) {
    const r = row.results[k];
    if (r?.status === 'ok' && (!best || r.medianMs < best.ms)) best = { key: k, ms: r.medianMs };
  }
  return best;
}

export function bestPeer(row) {
  return fastest(row, PEERS.map((e) => e.id));
}

const label = (key) => ENGINES.find((e) => e.id === key)?.label ?? key;

function fmtRatio(v, scaled) {
  if (v === null || v === undefined) return '—';
  return `${scaled ? '~' : ''}${v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2)}`;
}

function table(head, rows, align) {
  const out = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (align?.[i] === 'l' ? '---' : '---:')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

export function markdown(doc) {
  const { rows } = doc;
  const lines = [];
  const h = doc.header;
  lines.push(`# rnnx benchmark (${h.mode})`, '');
  lines.push(`- date: ${h.date}; total ${h.durationS.toFixed(0)} s; 1-min load average ${h.loadAvg.start.toFixed(2)} at start, ${h.loadAvg.end.toFixed(2)} at end${Math.max(h.loadAvg.start, h.loadAvg.end) > 0.5 ? ' (**other work was running: the numbers are disturbed**)' : ''}`);
  lines.push(`- CPU: ${h.cpu.model}, ${h.cpu.cores} logical cores (${h.cpu.simd.join(' ') || 'no AVX'}); ${h.cpu.memGiB} GiB`);
  lines.push(`- Node ${h.node}; rnnx ${h.rnnx.version}: ISA selected **${h.rnnx.cpu.selected}** (supported ${h.rnnx.cpu.supported.join(', ')}; compiled ${h.rnnx.cpu.compiled.join(', ')}), threads ${h.rnnx.threads}`);
  // A VM can hand its vCPUs one physical core's worth for minutes (seen here: 220 GFLOP/s on 2
  // threads, the same as on 1): every multi-thread column of such a run measures that, not rnnx.
  const peakN = h.fmaPeak?.[String(h.rnnx.threads)];
  const scaled = h.fmaPeak && h.rnnx.threads > 1 ? peakN / (h.fmaPeak['1'] * h.rnnx.threads) : 1;
  lines.push(`- FMA peak (rnnx \`_fmaPeak\`, ${h.rnnx.cpu.selected}): ${h.fmaPeak ? `${sig(h.fmaPeak['1'])} GFLOP/s 1 thread, ${sig(peakN)} GFLOP/s ${h.rnnx.threads} threads` : 'n/a (binding has no _fmaPeak)'}${scaled < 0.75 ? ` (**the cores did not all deliver: ${h.rnnx.threads} threads reached ${(scaled * h.rnnx.threads).toFixed(2)}× one thread's peak; the multi-thread columns are disturbed**)` : ''}`);
  // The two vCPUs' handoff latency moves with where the host puts them (measured here from 180 to
  // 570 ns one way between runs): a batch-1 team step waits for one at every step (C2, C5's team),
  // a single step's region for two (C1), so those columns move with it.
  if (h.handoffNs)
    lines.push(`- handoff between two rnnx pool threads (\`_handoffNs\`, one way): ${h.handoffNs.start.toFixed(0)} ns at the start, ${h.handoffNs.end.toFixed(0)} ns at the end (a batch-1 team step waits for at least one, a single step's region for two)`);
  lines.push(`- peers: ${h.peers.join('; ')}`);
  lines.push(`- medians per call (tinybench; PyTorch: perf_counter medians, the median of its rounds' medians), each engine timed in interleaved rounds with the others of its config (slow engines alone, after them); \`~\` = scaled from a prefix of the sequence; every timed peer matched rnnx's output (max |Δ| / max |rnnx| ≤ 1e-4) first; C3's FMA peak is the best of short tries made in the same rounds`);
  lines.push('');

  const engines = ENGINES.filter((e) => rows.some((r) => r.results[e.id]));
  lines.push('## Median time per call', '');
  lines.push(
    table(
      ['config', ...engines.map((e) => e.label)],
      rows.map((r) => [r.label, ...engines.map((e) => (e.id === 'rnnx' ? `**${cell(r.results[e.id])}**` : cell(r.results[e.id])))]),
      ['l'],
    ),
  );
  const rbRows = rows.filter((r) => r.results['rnnx-rb']?.status === 'ok');
  if (rbRows.length) {
    lines.push('', `rnnx GRU reset-before (linearBeforeReset: false; what tfjs computes, its baseline for the tfjs ratios): ${rbRows.map((r) => `${r.label} ${fmtTime(r.results['rnnx-rb'].medianMs)}`).join(', ')}.`);
  }
  lines.push('');

  lines.push('## rnnx time / peer time (below 1: rnnx is faster)', '');
  const peerCols = PEERS.filter((e) => rows.some((r) => r.results[e.id]));
  const head = ['config', 'best peer', 'rnnx / best', 'rnnx / ORT best', ...peerCols.map((e) => `/ ${e.label}`), 'scalar / rnnx'];
  const body = rows.map((r) => {
    const best = bestPeer(r);
    const ort = fastest(r, ['ort-1t', 'ort-all']);
    const scal = r.results['rnnx-scalar'];
    return [
      r.label,
      best ? label(best.key) : '—',
      best ? `**${fmtRatio(r.results.rnnx?.status === 'ok' ? r.results.rnnx.medianMs / best.ms : null, r.results[best.key].scaled)}**` : '—',
      ort ? `${fmtRatio(ratio(r, ort.key))} (${label(ort.key).replace('ORT ', '')})` : '—',
      ...peerCols.map((e) => fmtRatio(ratio(r, e.id), r.results[e.id]?.scaled) + (r.results[e.id]?.vs ? '†' : '')),
      scal?.status === 'ok' && r.results.rnnx?.status === 'ok' ? `${scal.scaled ? '~' : ''}${sig(scal.medianMs / r.results.rnnx.medianMs)}×` : '—',
    ];
  });
  lines.push(table(head, body, ['l', 'l']));
  if (rows.some((r) => Object.values(r.results).some((x) => x?.vs))) lines.push('', '† tfjs GRU against rnnx\'s reset-before GRU (tfjs has no reset_after).');
  lines.push('');

  const flopRows = rows.filter((r) => r.results.rnnx?.gflops);
  if (flopRows.length) {
    lines.push('## rnnx throughput (FLOPs as CONFIGS.md counts them)', '');
    lines.push(
      table(
        ['config', 'GFLOP', `rnnx ${h.rnnx.threads}t GFLOP/s`, '% of FMA peak', 'rnnx 1t GFLOP/s', '% of 1t peak'],
        flopRows.map((r) => {
          const a = r.results.rnnx;
          const b = r.results['rnnx-1t'];
          const pct = (x) => (x?.fractionOfPeak ? `${(100 * x.fractionOfPeak).toFixed(0)}%` : 'n/a');
          return [r.label, sig(r.flops / 1e9), sig(a.gflops), pct(a), b?.gflops ? sig(b.gflops) : '—', pct(b)];
        }),
        ['l'],
      ),
    );
    lines.push('');
  }

  const notes = [];
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.results)) {
      if (v?.status === 'mismatch') notes.push(`**${r.label} / ${label(k)}: output mismatch**, max |Δ| / max |rnnx| = ${v.relErr?.toExponential?.(2)}${v.worst ? ` (worst: ${v.worst})` : ''}; not timed.`);
      if (v?.status === 'error') notes.push(`${r.label} / ${label(k)}: error: ${v.error}`);
    }
  }
  if (rows.some((r) => r.cell === 'gru' && r.results['tfjs-cpu']?.status === 'ok')) {
    notes.push(
      "tfjs GRU is slow for a reason of its own: its GRUCell splits the recurrent kernel [H, 3H] on the last axis at every step; the cpu backend's slice of that runs element by element (TensorBuffer.get/set), and the wasm backend reads the kernel back into JS to slice it (profiled with node --cpu-prof). tfjs LSTM and SimpleRNN do not do this.",
    );
  }
  if (rows.some((r) => r.mode === 'forward' && !r.needs?.includes('output')))
    notes.push(
      'Where the caller needs only the final state (C2, C5), rnnx runs `forward(x, { returnSequences: false })` (no per-step output array per call) and ONNX Runtime\'s graph outputs only Y_h.',
      'Where the caller needs every output (C3), rnnx writes them into one tensor reused across calls (`forward(x, { out })`) and ONNX Runtime into a pre-allocated Y (`run(feeds, { Y })`); the other peers allocate theirs per call.',
    );
  const na = new Set();
  for (const r of rows) for (const v of Object.values(r.results)) if (v?.status === 'n/a' && v.note) na.add(v.note);
  for (const n of na) notes.push(n);
  if (doc.extra.brain?.runMs) {
    const b = doc.extra.brain;
    notes.push(`brain.js ${b.version}: cannot take PyTorch weights (own parameterization, always an output layer, no batch dimension), so it is in no row; its own ${b.shape}: \`run\` ${fmtTime(b.runMs)}, one training iteration ${fmtTime(b.trainIterMs)}.`);
  } else if (doc.extra.brain?.status === 'error') {
    notes.push(`brain.js: error: ${doc.extra.brain.error}`);
  }
  if (notes.length) lines.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

/** A horizontal bar chart (log scale) of rnnx time / best peer time per config, with a line at 1. */
export function svgChart(doc) {
  const items = doc.rows
    .map((r) => {
      const best = bestPeer(r);
      if (!best || r.results.rnnx?.status !== 'ok') return null;
      return { label: r.label, v: r.results.rnnx.medianMs / best.ms, peer: label(best.key), scaled: r.results[best.key].scaled };
    })
    .filter(Boolean);
  const W = 760;
  const left = 150;
  const right = 190;
  const top = 74;
  const barH = 22;
  const gap = 10;
  const H = top + items.length * (barH + gap) + 46;
  const plotW = W - left - right;
  const vals = items.map((i) => i.v);
  let lo = Math.min(0.1, ...vals.map((v) => v / 1.5));
  let hi = Math.max(2, ...vals.map((v) => v * 1.5));
  lo = 10 ** Math.floor(Math.log10(lo));
  hi = 10 ** Math.ceil(Math.log10(hi));
  const X = (v) => left + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">rnnx time / best peer time (log scale; left of 1 = rnnx faster)</text>`);
  out.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(doc.header.date)} · ${esc(doc.header.cpu.model)} · ${esc(doc.header.mode)} · ~ = peer scaled from a prefix</text>`);
  for (let d = Math.log10(lo); d <= Math.log10(hi) + 1e-9; d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v < lo * 0.999 || v > hi * 1.001) continue;
      const x = X(v).toFixed(1);
      out.push(`<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${H - 40}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${x}" y="${H - 24}" text-anchor="middle" fill="#555">${v >= 1 ? v : v.toPrecision(1)}</text>`);
    }
  }
  items.forEach((it, i) => {
    const y = top + i * (barH + gap);
    const x0 = X(1);
    const x1 = X(it.v);
    const color = it.v <= 1 ? '#2a9d4b' : '#d0453a';
    out.push(`<text x="${left - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(it.label)}</text>`);
    out.push(`<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${barH}" fill="${color}"/>`);
    const txt = `${it.v < 1 ? it.v.toPrecision(2) : it.v.toFixed(2)} vs ${it.peer}${it.scaled ? ' (~)' : ''}`;
    out.push(`<text x="${(W - right + 8).toFixed(1)}" y="${y + barH / 2 + 4}">${esc(txt)}</text>`);
  });
  const x1 = X(1).toFixed(1);
  out.push(`<line x1="${x1}" y1="${top - 10}" x2="${x1}" y2="${H - 40}" stroke="#000" stroke-width="1.5"/>`);
  out.push(`<text x="${x1}" y="${top - 12}" text-anchor="middle" font-weight="bold">1.0</text>`);
  out.push(`<text x="${W / 2}" y="${H - 6}" text-anchor="middle" fill="#555">rnnx median / fastest matching peer's median (ORT, tfjs, PyTorch; any thread count)</text>`);
  out.push('</svg>');
  return out.join('\n');
}
