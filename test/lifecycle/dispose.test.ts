// Explicit lifetime of native objects: dispose() idempotence, use after dispose, dispose while an
// async forward is in flight, tapes and streams outliving (or not) their module.
import { describe, expect, it } from 'vitest';

import {
  binding,
  codeOf,
  errorOf,
  floatArray,
  makeArgs,
  makeBackwardArgs,
  makeConfig,
  rejectionOf,
  randomWeights,
  settle,
} from './helpers/native.js';

const b = binding();

describe('dispose', () => {
  it('is idempotent and frees the native objects', async () => {
    await settle();
    const base = b.liveObjects();
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    expect(b.liveObjects()).toBe(base + 1);
    expect(m.nativeBytes).toBeGreaterThan(0);
    expect(m.disposed).toBe(false);
    m.dispose();
    expect(m.disposed).toBe(true);
    expect(m.nativeBytes).toBe(0);
    expect(b.liveObjects()).toBe(base);
    m.dispose();
    m.dispose();
    expect(m.disposed).toBe(true);
    expect(b.liveObjects()).toBe(base);
  });

  it('makes every method throw RNNX_DISPOSED', async () => {
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const fa = makeArgs(cfg, 2, 1, { requiresGrad: true });
    const tape = m.forward(fa)!;
    const ba = makeBackwardArgs(cfg, fa);
    m.dispose();
    const e = errorOf(() => m.forward(fa));
    expect(e.code).toBe('RNNX_DISPOSED');
    expect(e.message).toBe('Module is disposed; create a new one');
    expect(codeOf(() => m.paramSpecs())).toBe('RNNX_DISPOSED');
    expect(codeOf(() => m.paramCount)).toBe('RNNX_DISPOSED');
    expect(codeOf(() => m.getWeights(new Float32Array(1)))).toBe('RNNX_DISPOSED');
    expect(codeOf(() => m.setWeights(new Float32Array(1)))).toBe('RNNX_DISPOSED');
    expect(codeOf(() => m.backward(tape, ba))).toBe('RNNX_DISPOSED');
    expect(codeOf(() => m.createStream(1))).toBe('RNNX_DISPOSED');
    // Disposed wins over bad arguments.
    expect(codeOf(() => m.forward(null as never))).toBe('RNNX_DISPOSED');
    expect((await rejectionOf(m.forwardAsync(fa))).code).toBe('RNNX_DISPOSED');
    expect(m.busy).toBe(false);
    expect(m.nativeBytes).toBe(0);
    // The tape of a disposed module can still be released (idempotent).
    expect(tape.released).toBe(false);
    tape.release();
    tape.release();
    expect(tape.released).toBe(true);
  });

  it('a getter that disposes the module mid-call is caught', () => {
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const a = makeArgs(cfg, 2, 1);
    const args = {
      ...a,
      get y() {
        m.dispose();
        return a.y;
      },
    };
    expect(codeOf(() => m.forward(args))).toBe('RNNX_DISPOSED');
  });
});

describe('dispose while forwardAsync is pending', () => {
  const cfg = makeConfig({ inputSize: 32, hiddenSize: 64, numLayers: 2 });

  it('the promise still resolves with the outputs written, then the memory is freed', async () => {
    await settle();
    const base = b.liveObjects();
    const w = randomWeights(cfg, 3);
    const m = new b.RnnModule(cfg, w);
    const a = makeArgs(cfg, 60, 8, { seed: 5 });
    const p = m.forwardAsync(a);
    m.dispose();
    expect(m.disposed).toBe(true);
    // The worker's own reference keeps the native module alive until it settles.
    expect(b.liveObjects()).toBe(base + 1);
    expect(codeOf(() => m.forward(a))).toBe('RNNX_DISPOSED');
    await expect(p).resolves.toBeUndefined();
    expect(b.liveObjects()).toBe(base);
    // The outputs match a fresh module's.
    const ref = new b.RnnModule(cfg, w);
    const r = { ...a, y: floatArray('float32', a.y.length) };
    ref.forward(r);
    expect(Array.from(a.y)).toEqual(Array.from(r.y));
    ref.dispose();
  });

  it('a recording call rejects with RNNX_DISPOSED (its tape could never be used)', async () => {
    await settle();
    const base = b.liveObjects();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const p = m.forwardAsync(makeArgs(cfg, 40, 4, { requiresGrad: true }));
    m.dispose();
    const e = await rejectionOf(p);
    expect(e.code).toBe('RNNX_DISPOSED');
    expect(e.message).toMatch(/^forwardAsync: /);
    expect(b.liveObjects()).toBe(base);
  });

  it('many modules disposed mid-flight all settle', async () => {
    await settle();
    const base = b.liveObjects();
    const small = makeConfig({ inputSize: 8, hiddenSize: 16 });
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < 32; i++) {
      const m = new b.RnnModule(small, randomWeights(small, i));
      ps.push(m.forwardAsync(makeArgs(small, 30, 2, { requiresGrad: i % 2 === 0 })).catch((e) => e));
      m.dispose();
    }
    const results = await Promise.all(ps);
    results.forEach((r, i) => {
      if (i % 2 === 0) expect((r as { code: string }).code).toBe('RNNX_DISPOSED');
      else expect(r).toBeUndefined();
    });
    expect(b.liveObjects()).toBe(base);
  });
});

describe('tapes', () => {
  it('release is idempotent; backward on a released tape is RNNX_DISPOSED', () => {
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const base = b.liveObjects();
    const fa = makeArgs(cfg, 3, 2, { requiresGrad: true });
    const tape = m.forward(fa)!;
    expect(b.liveObjects()).toBe(base + 1);
    tape.release();
    expect(b.liveObjects()).toBe(base);
    tape.release();
    const e = errorOf(() => m.backward(tape, makeBackwardArgs(cfg, fa)));
    expect(e.code).toBe('RNNX_DISPOSED');
    expect(e.message).toMatch(/^tape: /);
    m.dispose();
  });

  it('released tapes are reused without changing results', () => {
    const cfg = makeConfig({ numLayers: 2 });
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const fa = makeArgs(cfg, 5, 2, { requiresGrad: true });
    const first = makeBackwardArgs(cfg, fa);
    const t1 = m.forward(fa)!;
    m.backward(t1, first);
    t1.release();
    for (let i = 0; i < 5; i++) {
      const t = m.forward(fa)!;
      const g = makeBackwardArgs(cfg, fa);
      m.backward(t, g);
      expect(Array.from(g.dw)).toEqual(Array.from(first.dw));
      t.release();
    }
    // A smaller call reuses a bigger pooled tape.
    const small = makeArgs(cfg, 2, 1, { requiresGrad: true });
    const t = m.forward(small)!;
    m.backward(t, makeBackwardArgs(cfg, small));
    m.dispose();
  });

  it('accumulate adds into dw', () => {
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const fa = makeArgs(cfg, 3, 2, { requiresGrad: true });
    const t = m.forward(fa)!;
    const g = makeBackwardArgs(cfg, fa);
    m.backward(t, g);
    const once = Array.from(g.dw);
    m.backward(t, { ...g, accumulate: true });
    g.dw.forEach((v, i) => expect(v).toBeCloseTo(2 * once[i]!, 5));
    m.dispose();
  });
});

describe('streams', () => {
  it('dispose is idempotent; methods after dispose throw RNNX_DISPOSED', () => {
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const base = b.liveObjects();
    const s = m.createStream(2);
    expect(b.liveObjects()).toBe(base + 1);
    s.dispose();
    s.dispose();
    expect(s.disposed).toBe(true);
    expect(b.liveObjects()).toBe(base);
    expect(codeOf(() => s.step(new Float32Array(6), new Float32Array(8)))).toBe('RNNX_DISPOSED');
    expect(codeOf(() => s.getState(new Float32Array(8), null))).toBe('RNNX_DISPOSED');
    expect(codeOf(() => s.setState(new Float32Array(8), null))).toBe('RNNX_DISPOSED');
    expect(codeOf(() => s.reset())).toBe('RNNX_DISPOSED');
    m.dispose();
  });

  it('a stream of a disposed module throws RNNX_DISPOSED', () => {
    const cfg = makeConfig();
    const m = new b.RnnModule(cfg, randomWeights(cfg));
    const s = m.createStream(1);
    s.step(new Float32Array(3), new Float32Array(4));
    m.dispose();
    expect(codeOf(() => s.step(new Float32Array(3), new Float32Array(4)))).toBe('RNNX_DISPOSED');
    expect(s.disposed).toBe(false);
    s.dispose();
  });
});
