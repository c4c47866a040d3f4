import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runOnnxFixture } from '../../lib/verify/onnxFixture.js';

const DIR = new URL('../../../shared/fixtures/onnx/', import.meta.url).pathname;
const names = readdirSync(DIR).filter((f) => f.endsWith('.onnx')).sort();

describe('ONNX fixtures (torch.onnx exports, float64 references)', () => {
  it('finds the six fixtures', () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
  });
  for (const n of names) {
    it(`${n} matches within 1e-5`, async () => {
      const r = await runOnnxFixture(join(DIR, n));
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.forward_rel_err).toBeLessThanOrEqual(1e-5);
      expect(r.grad_rel_err).toBeNull();
      console.log(JSON.stringify(r));
    });
  }
});
