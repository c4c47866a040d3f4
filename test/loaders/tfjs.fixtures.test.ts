// tfjs / Keras fixtures (../shared/fixtures/tfjs): every one within 1e-5 of tfjs's (or PyTorch's) output.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTfjsFixture } from '../../lib/verify/tfjsFixture.js';
import { loadModel } from '../../lib/model/loadModel.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures/tfjs');

describe('tfjs fixtures', () => {
  for (const name of ['tfjs_intent_lstm', 'tfjs_gru_stack_reset_before', 'tfjs_bilstm_tagger', 'keras_gru_reset_after']) {
    it(`${name} verifies within 1e-5`, async () => {
      const r = await runTfjsFixture(join(dir, name));
      expect(r.error).toBeUndefined();
      expect(r.fixture).toBe(name);
      expect(r.grad_rel_err).toBeNull();
      expect(r.forward_rel_err).not.toBeNull();
      expect(r.forward_rel_err!).toBeLessThanOrEqual(1e-5);
      expect(r.ok).toBe(true);
    });
  }

  it('loadModel opens a fixture folder', async () => {
    const m = await loadModel(join(dir, 'tfjs_intent_lstm'));
    expect(m.inputNames).toEqual(['embedding_Embedding1_input']);
    expect(m.outputNames).toEqual(['dense_Dense1']);
    m.dispose();
  });

  it('reports a missing folder as a failed fixture', async () => {
    const r = await runTfjsFixture(join(dir, 'no_such_fixture'));
    expect(r.ok).toBe(false);
    expect(r.error).toBeTypeOf('string');
  });
});
