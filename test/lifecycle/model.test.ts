// ModelModule (sequential models): dispose frees native memory at once (or when an in-flight async
// call settles), every method of a disposed model throws RNNX_DISPOSED, one call at a time
// (RNNX_BUSY), and repeated training steps do not grow native memory.
import { describe, expect, it } from 'vitest';
import { SequentialModel } from '../../lib/index.js';
import { getBinding } from '../../lib/native/binding.js';
import type { NativeLoss, NativeModelBatch, NativeOptim } from '../../lib/native/types.js';

const b = getBinding();
const desc = {
  version: 1 as const,
  input: { type: 'ids' as const },
  layers: [
    { type: 'embedding' as const, name: 'e', num_embeddings: 30, embedding_dim: 8 },
    { type: 'lstm' as const, name: 'r', hidden_size: 16, bidirectional: true },
    { type: 'pool' as const, mode: 'max' as const },
    { type: 'dense' as const, name: 'd', in_features: 32, out_features: 4 },
  ],
};
const batch: NativeModelBatch = { batch: 2, seqLen: 3, ids: Int32Array.from([1, 2, 3, 4, 5, 0]), lengths: Int32Array.from([3, 2]) };
const loss: NativeLoss = { kind: 'crossEntropy', classTargets: Int32Array.from([1, 3]), labelSmoothing: 0 };
const optim: NativeOptim = { kind: 'adam', lr: 1e-3, momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clipNorm: 0, clipValue: 0 };

describe('ModelModule lifecycle', () => {
  it('dispose is idempotent, frees the native model and makes every method throw RNNX_DISPOSED', () => {
    const base = b.liveObjects();
    const m = SequentialModel.create(desc);
    const nm = m.nativeModel;
    expect(b.liveObjects()).toBe(base + 1);
    expect(nm.nativeBytes).toBeGreaterThan(0);
    m.dispose();
    m.dispose();
    expect(nm.disposed).toBe(true);
    expect(nm.nativeBytes).toBe(0);
    expect(b.liveObjects()).toBe(base);
    for (const call of [() => nm.forward(batch), () => nm.getParams(), () => nm.trainStep(batch, loss, optim, 1), () => nm.params()])
      expect(call).toThrow(expect.objectContaining({ code: 'RNNX_DISPOSED' }));
    expect(() => m.nativeModel).toThrow(/disposed/);
  });

  it('one call at a time: a second call while a step runs is RNNX_BUSY; dispose during a step frees it when the step settles', async () => {
    const base = b.liveObjects();
    const m = SequentialModel.create(desc);
    const nm = m.nativeModel;
    const p = nm.trainStepAsync(batch, loss, optim, 1);
    expect(nm.busy).toBe(true);
    expect(() => nm.forward(batch)).toThrow(expect.objectContaining({ code: 'RNNX_BUSY' }));
    m.dispose();
    const r = await p;
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(nm.busy).toBe(false);
    expect(nm.nativeBytes).toBe(0);
    expect(b.liveObjects()).toBe(base);
  });

  it('repeated training steps and forwards do not grow native memory', async () => {
    const m = SequentialModel.create(desc);
    const nm = m.nativeModel;
    for (let i = 0; i < 5; i++) await nm.trainStepAsync(batch, loss, optim, 1);
    await nm.forwardAsync(batch);
    const after = nm.nativeBytes;
    for (let i = 0; i < 200; i++) {
      await nm.trainStepAsync(batch, loss, optim, 1);
      nm.forward(batch);
    }
    expect(nm.nativeBytes).toBe(after);
    m.dispose();
  });
});
