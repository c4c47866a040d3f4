// Every PyTorch layer fixture in ../shared/fixtures/layers, forward and gradients, in float32
// (the tolerances of `rnnx verify`) and in float64 (much tighter: the reference is float64).
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runLayerFixture } from '../../lib/verify/layerFixture.js';
import { getBackendInfo, setCpuIsa } from '../../lib/backendInfo.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs = [join(here, '../../../shared/fixtures/layers'), join(here, '../fixtures/layers')];
const files = dirs.flatMap((d) => {
  try {
    return readdirSync(d).filter((f) => f.endsWith('.safetensors')).sort().map((f) => join(d, f));
  } catch {
    return [];
  }
});

// every ISA this machine supports and this build has (RNNX_CPU_ISA / setCpuIsa lower the choice)
const info = getBackendInfo().cpu;
const isas = info.compiled.filter((i) => info.supported.includes(i));

describe('layer fixtures', () => {
  it('finds the shared fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(11);
  });
  it('runs more than the scalar kernels where the CPU allows', () => {
    expect(isas).toContain('scalar');
    if (process.arch === 'x64' && info.supported.includes('avx2')) expect(isas).toContain('avx2');
  });
  for (const f of files) {
    const name = f.replace(/^.*\//, '');
    it.each(isas)(`${name} float32 on %s: forward <= 1e-5, gradients <= 1e-4`, (isa) => {
      setCpuIsa(isa);
      expect(getBackendInfo().cpu.selected).toBe(isa);
      const r = runLayerFixture(f, 'float32');
      expect(r.error).toBeUndefined();
      expect(r.forward_rel_err).not.toBeNull();
      expect(r.forward_rel_err!).toBeLessThanOrEqual(1e-5);
      expect(r.grad_rel_err).not.toBeNull();
      expect(r.grad_rel_err!).toBeLessThanOrEqual(1e-4);
      expect(r.ok).toBe(true);
    });
    it(`${name} float64: forward and gradients <= 1e-9`, () => {
      const r = runLayerFixture(f, 'float64');
      expect(r.forward_rel_err!).toBeLessThanOrEqual(1e-9);
      expect(r.grad_rel_err!).toBeLessThanOrEqual(1e-9);
    });
  }
});
