// loadModel: the public contract's import works; safetensors layer models load, run, save atomically
// and load back identically; other formats and broken files give ModelFormatError naming the file.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, ModelFormatError, RNN, Tensor, loadModel, parseSafetensors } from '../../lib/index.js';
import { entryToFloat32, entryToFloat64, entryToInt32, readSafetensorsSync } from '../../lib/io/safetensors.js';
import { relErr } from '../../lib/verify/relErr.js';
import { tempDir } from '../helpers/tmp.js';

const shared = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures');

describe('loadModel', () => {
  it('is exported with the rest of the public contract', () => {
    expect(typeof loadModel).toBe('function');
    expect(typeof LSTM.fromStateDict).toBe('function');
    expect(typeof GRU.fromStateDict).toBe('function');
    expect(typeof RNN.fromStateDict).toBe('function');
    expect(typeof Tensor).toBe('function');
  });

  for (const name of ['lstm_proj', 'gru_bi_2layer', 'rnn_relu_basic', 'lstm_no_state_batch_first']) {
    it(`${name}: run matches the reference, save -> load gives identical outputs`, async () => {
      const path = join(shared, 'layers', `${name}.safetensors`);
      const model = await loadModel(path);
      const f = readSafetensorsSync(path);
      const t = (k: string) => {
        const e = f.tensors.get(k)!;
        return new Tensor(entryToFloat32(e), e.shape);
      };
      const inputs: Record<string, Tensor> = { input: t('input') };
      if (f.tensors.has('h0')) inputs.h0 = t('h0');
      if (f.tensors.has('c0') && model.outputNames.includes('c_n')) inputs.c0 = t('c0');
      const len = f.tensors.get('lengths')!;
      inputs.lengths = new Tensor(entryToInt32(len), len.shape);
      const out = await model.run(inputs);
      expect(relErr(out.output!.data, entryToFloat64(f.tensors.get('expected.output')!))).toBeLessThanOrEqual(1e-5);
      expect(relErr(out.h_n!.data, entryToFloat64(f.tensors.get('expected.h_n')!))).toBeLessThanOrEqual(1e-5);

      const dir = tempDir('rnnx-model-');
      const saved = join(dir, 'model.safetensors');
      await model.save(saved);
      expect(readdirSync(dir)).toEqual(['model.safetensors']); // no temporary file left behind
      const parsed = parseSafetensors(readFileSync(saved), saved); // any safetensors reader opens it
      expect(parsed.metadata.cell).toBeDefined();
      const again = await loadModel(saved);
      const out2 = await again.run(inputs);
      expect(Array.from(out2.output!.data)).toEqual(Array.from(out.output!.data));
      expect(Array.from((await again.predict(inputs.input!)).data)).toEqual(
        Array.from((await model.predict(inputs.input!)).data),
      );
      model.dispose();
      again.dispose();
    });
  }

  it('refuses broken files, naming the file', async () => {
    await expect(loadModel(join(shared, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors.*ENOENT/);
    const dir = tempDir('rnnx-bad-');
    const trunc = join(dir, 'trunc.safetensors');
    writeFileSync(trunc, readFileSync(join(shared, 'layers', 'gru_basic.safetensors')).subarray(0, 200));
    await expect(loadModel(trunc)).rejects.toBeInstanceOf(ModelFormatError);
    const garbage = join(dir, 'garbage.bin');
    writeFileSync(garbage, Buffer.from('not a model at all'));
    await expect(loadModel(garbage)).rejects.toThrow(/garbage\.bin/);
    await expect(loadModel(42 as never)).rejects.toThrow(/path/);
  });

  it('classify on a layer model says it is not a classifier', async () => {
    const m = await loadModel(join(shared, 'layers', 'gru_basic.safetensors'));
    await expect(m.classify(['what time is it'])).rejects.toThrow(/not a text classifier/);
    m.dispose();
  });
});
