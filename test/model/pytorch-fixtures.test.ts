/**
 * Whole PyTorch models (nn.Embedding → nn.LSTM/GRU/RNN → pooling → nn.Linear, variable lengths
 * through pack_padded_sequence), generated in float64 by scripts/gen-pytorch-models.py, loaded
 * both as rnnx model files and as a bare state dict with its architecture JSON beside it.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, parseSafetensors, SequentialModel, serializeSafetensors, Tensor } from '../../lib/index.js';
import { entryToInt32, entryToFloat32, entryToFloat64 } from '../../lib/io/safetensors.js';

const here = dirname(fileURLToPath(import.meta.url));
const fx = join(here, '../fixtures/pytorch');
const names = readdirSync(fx)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5));
const tmp = mkdtempSync(join(tmpdir(), 'rnnx-torch-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let mx = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    mx = Math.max(mx, Math.abs(want[i] as number));
    err = Math.max(err, Math.abs((got[i] as number) - (want[i] as number)));
  }
  return err / mx;
}

describe('PyTorch whole-model fixtures', () => {
  it('there are fixtures', () => expect(names.length).toBeGreaterThanOrEqual(5));
  for (const name of names) {
    it(`${name}: rnnx file and state dict + architecture JSON both match PyTorch (float32 ≤ 1e-5, float64 ≤ 1e-10)`, async () => {
      const io = parseSafetensors(readFileSync(join(fx, `${name}.io.safetensors`)));
      const ids = entryToInt32(io.tensors.get('ids') as never);
      const lengths = entryToInt32(io.tensors.get('lengths') as never);
      const expected = entryToFloat64(io.tensors.get('expected') as never);
      const shape = (io.tensors.get('ids') as { shape: number[] }).shape as [number, number];
      const input = { ids: new Tensor(ids, shape), lengths: new Tensor(lengths, [shape[0]]) };

      const m = await loadModel(join(fx, `${name}.safetensors`));
      const out = (await m.run(input)).output;
      expect(out.shape[0]).toBe(shape[0]);
      expect(out.data.length).toBe(expected.length);
      expect(relErr(out.data as Float32Array, expected)).toBeLessThan(1e-5);
      m.dispose();

      // the bare state dict (no rnnx metadata) with NAME.json beside it: the PyTorch route
      const file = parseSafetensors(readFileSync(join(fx, `${name}.safetensors`)));
      const sd = new Map<string, Tensor>();
      for (const [k, e] of file.tensors) sd.set(k, new Tensor(entryToFloat32(e), e.shape));
      writeFileSync(join(tmp, `${name}.safetensors`), serializeSafetensors(sd as never));
      copyFileSync(join(fx, `${name}.json`), join(tmp, `${name}.json`));
      const t = await loadModel(join(tmp, `${name}.safetensors`));
      expect(relErr((await t.run(input)).output.data as Float32Array, expected)).toBeLessThan(1e-5);
      t.dispose();

      // float64 engine: the same numbers as PyTorch's float64 to rounding
      const desc = JSON.parse(readFileSync(join(fx, `${name}.json`), 'utf8'));
      const sd64 = new Map<string, Tensor>();
      for (const [k, e] of file.tensors) sd64.set(k, new Tensor(entryToFloat64(e), e.shape));
      const m64 = SequentialModel.fromTensors(desc, sd64, { dtype: 'float64' });
      const o64 = m64.runSync(input).output.data as Float64Array;
      expect(relErr(o64, expected)).toBeLessThan(1e-10);
      m64.dispose();
    });
  }
});
