// examples/vanishing-gradients in a reduced mode (short lengths, few epochs): it runs, writes its
// files, and shows the vanilla RNN's gradient vanishing far faster than the LSTM's and the GRU's.
// The example imports 'rnnx' (the package itself, dist/), so it runs in a child node process.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const example = fileURLToPath(new URL('../../examples/vanishing-gradients/index.mjs', import.meta.url));

interface Results {
  config: { lengths: number[]; K: number };
  backend: { isa: string; threads: number };
  accuracy: { cell: string; T: number; valAccuracy: number }[];
  gradients: { T: number } & Record<string, { initial: { norms: number[]; ratioFirstToLast: number }; trained: { norms: number[]; ratioFirstToLast: number } }>;
}

describe('examples/vanishing-gradients (reduced)', () => {
  let dir = '';
  let stdout = '';
  let results: Results;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rnnx-vg-'));
    const r = await run(process.execPath, [example], {
      env: { ...process.env, VG_TS: '5,30', VG_EPOCHS: '3', VG_TRAIN: '512', VG_VAL: '128', VG_GRAD_T: '5', VG_OUT: dir },
      timeout: 100_000,
    });
    stdout = r.stdout;
    results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes results.json and an SVG chart, and prints the table', () => {
    const svg = readFileSync(join(dir, 'vanishing-gradients.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('</svg>');
    for (const s of ['RNN (tanh)', 'LSTM', 'GRU', 'chance', 'validation accuracy']) expect(svg).toContain(s);
    expect(stdout).toMatch(/validation accuracy/);
    expect(stdout).toMatch(/gradient norm ratio/);
    expect(stdout).toContain(`ISA ${results.backend.isa}`);
    expect(results.backend.threads).toBeGreaterThanOrEqual(1);
    // the PNG only where rsvg-convert exists; when it does, it is a PNG
    const png = join(dir, 'vanishing-gradients.png');
    if (existsSync(png)) expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });

  it('reports an accuracy in [0, 1] for every cell and length', () => {
    expect(results.accuracy).toHaveLength(3 * 2);
    for (const cell of ['rnn', 'lstm', 'gru'])
      for (const T of [5, 30]) {
        const row = results.accuracy.find((r) => r.cell === cell && r.T === T);
        expect(row, `${cell} T=${T}`).toBeDefined();
        expect(row!.valAccuracy).toBeGreaterThanOrEqual(0);
        expect(row!.valAccuracy).toBeLessThanOrEqual(1);
      }
    // the short task is learnt by at least one cell even with this tiny budget
    expect(Math.max(...results.accuracy.filter((r) => r.T === 5).map((r) => r.valAccuracy))).toBeGreaterThan(0.9);
  });

  it("shows the RNN's gradient vanishing orders of magnitude faster than the LSTM's and GRU's", () => {
    const g = results.gradients;
    expect(g.T).toBe(30);
    for (const cell of ['rnn', 'lstm', 'gru'])
      for (const k of ['initial', 'trained'] as const) {
        expect(g[cell]![k].norms).toHaveLength(30);
        for (const v of g[cell]![k].norms) expect(Number.isFinite(v) && v >= 0).toBe(true);
      }
    // ratio = ||dL/dh_1|| / ||dL/dh_T||: small means the gradient vanished on its way back
    const rnn = g.rnn!.initial.ratioFirstToLast;
    for (const cell of ['lstm', 'gru']) {
      const gated = g[cell]!.initial.ratioFirstToLast;
      expect(rnn * 1e4, `rnn ${rnn} vs ${cell} ${gated}`).toBeLessThan(gated);
    }
  });
});
