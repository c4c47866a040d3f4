// Reduced-precision inference weights (bf16, int8 with per-row scales): bounded error against the
// float64 PyTorch references, float32 training untouched, and the same numbers on every ISA.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor, getBackendInfo, setCpuIsa } from '../../lib/index.js';
import { entryToFloat32, entryToFloat64, entryToInt32, readSafetensorsSync } from '../../lib/io/safetensors.js';
import type { Recurrent } from '../../lib/layers/Recurrent.js';
import { relErr } from '../../lib/verify/relErr.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures/layers');
const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();

function load(file: string, precision: 'float32' | 'bf16' | 'int8'): { layer: Recurrent; run: () => number } {
  const f = readSafetensorsSync(join(dir, file));
  const m = Object.fromEntries(Object.entries(f.metadata).map(([k, v]) => [k, JSON.parse(v)]));
  const sd: Record<string, Tensor> = {};
  for (const [k, e] of f.tensors) if (/^(weight|bias)_/.test(k)) sd[k] = new Tensor(entryToFloat32(e), e.shape);
  const opts = {
    inputSize: m.input_size,
    hiddenSize: m.hidden_size,
    numLayers: m.num_layers,
    bidirectional: m.bidirectional,
    batchFirst: m.batch_first,
    bias: m.bias,
    precision,
  };
  const layer =
    m.cell === 'lstm'
      ? LSTM.fromStateDict(sd, { ...opts, projSize: m.proj_size })
      : m.cell === 'gru'
        ? GRU.fromStateDict(sd, opts)
        : RNN.fromStateDict(sd, { ...opts, nonlinearity: m.nonlinearity });
  const t = (k: string) => {
    const e = f.tensors.get(k)!;
    return new Tensor(entryToFloat32(e), e.shape);
  };
  const run = () => {
    const r = layer.forward(t('input'), {
      h0: f.tensors.has('h0') ? t('h0') : undefined,
      c0: f.tensors.has('c0') && m.cell === 'lstm' ? t('c0') : undefined,
      lengths: entryToInt32(f.tensors.get('lengths')!),
    });
    return relErr(r.output.data, entryToFloat64(f.tensors.get('expected.output')!));
  };
  return { layer, run };
}

const info = getBackendInfo().cpu;
const isas = info.compiled.filter((i) => info.supported.includes(i));

describe('reduced-precision inference weights', () => {
  // bf16 keeps 8 bits of mantissa (relative rounding 2^-9), int8 7 bits per row: the bounds leave
  // room for accumulation over the fixtures' lengths (gru_long: 200 steps).
  const bounds = { bf16: 2e-2, int8: 4e-2 };
  for (const file of files) {
    it.each(isas)(`${file} on %s: bf16 and int8 stay within bounds, float32 stays exact`, (isa) => {
      setCpuIsa(isa);
      const f32 = load(file, 'float32');
      expect(f32.run()).toBeLessThanOrEqual(1e-5);
      for (const p of ['bf16', 'int8'] as const) {
        const q = load(file, p);
        expect(q.layer.precision).toBe(p);
        const err = q.run();
        expect(err, `${p}`).toBeLessThanOrEqual(bounds[p]);
        expect(err, `${p} should differ from float32`).toBeGreaterThan(1e-7);
        q.layer.dispose();
      }
      f32.layer.dispose();
    });
  }

  it('training (requiresGrad) always uses float32 weights', () => {
    const a = new LSTM({ inputSize: 6, hiddenSize: 10, seed: 4 });
    const b = new LSTM({ inputSize: 6, hiddenSize: 10, seed: 4, precision: 'int8' });
    const x = new Tensor(Float32Array.from({ length: 5 * 2 * 6 }, (_, i) => Math.sin(i)), [5, 2, 6]);
    const ta = a.forward(x, { requiresGrad: true });
    const tb = b.forward(x, { requiresGrad: true });
    expect(Array.from(tb.output.data)).toEqual(Array.from(ta.output.data));
    const ib = b.forward(x);
    expect(Array.from(ib.output.data)).not.toEqual(Array.from(ta.output.data));
    b.setPrecision('float32');
    expect(Array.from(b.forward(x).output.data)).toEqual(Array.from(a.forward(x).output.data));
    expect(() => new LSTM({ inputSize: 2, hiddenSize: 3, dtype: 'float64', precision: 'bf16' })).toThrow(/precision/);
    expect(() => a.setPrecision('fp8' as never)).toThrow(/precision/);
    a.dispose();
    b.dispose();
  });
});
