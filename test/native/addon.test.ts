// The N-API glue itself (native/src/addon), driven directly through lib/native/binding.ts with
// the TS layer bypassed: every argument check must hold on its own, with the right `.code`, and
// results must match between sync / async and float32 / float64.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { describe, expect, it, vi } from 'vitest';

import { packageRoot, resolveBindingPath } from '../../lib/native/binding.js';
import type { NativeBinding } from '../../lib/native/types.js';

import type { NativeForwardArgs, NativeRnnConfig } from '../../lib/native/types.js';
import { ACTIVATION_IDS } from '../../lib/native/types.js';
import {
  act,
  allFinite,
  binding,
  codeOf,
  dims,
  errorOf,
  floatArray,
  makeArgs,
  makeBackwardArgs,
  makeConfig,
  maxAbsDiff,
  paramCount,
  randomArray,
  randomWeights,
  rejectionOf,
} from '../lifecycle/helpers/native.js';

const b = binding();

function newModule(cfg: NativeRnnConfig, seed = 1) {
  return new b.RnnModule(cfg, randomWeights(cfg, seed));
}

describe('exports', () => {
  it('has the NativeBinding shape', () => {
    expect(typeof b.version).toBe('string');
    const cpu = b.cpuInfo();
    expect(cpu.compiled).toContain('scalar');
    expect(cpu.supported).toContain(cpu.selected);
    const cuda = b.cudaProbe();
    expect(typeof cuda.compiled).toBe('boolean');
    expect(typeof cuda.available).toBe('boolean');
    expect(Array.isArray(cuda.devices)).toBe(true);
    expect(typeof cuda.reason).toBe('string');
    expect(typeof b.liveObjects()).toBe('number');
  });

  it('stores and validates the thread count', () => {
    const before = b.getThreads();
    expect(before).toBeGreaterThanOrEqual(1);
    b.setThreads(3);
    expect(b.getThreads()).toBe(3);
    for (const bad of [0, 1025, 1.5, -1, NaN, '2', undefined]) {
      expect(codeOf(() => b.setThreads(bad as number))).toBe('RNNX_INVALID_ARGUMENT');
    }
    b.setThreads(before);
  });

  it('measures the benchmarks\' machine facts and validates their arguments', () => {
    const before = b.getThreads();
    try {
      // one thread: no second thread to hand off to
      b.setThreads(1);
      expect(b._handoffNs(100)).toBe(0);
      expect(b._fmaPeak(1, 0.01)).toBeGreaterThan(0);
      // two threads (whatever the cores: the pool's threads share them): a positive, finite latency
      b.setThreads(2);
      const ns = b._handoffNs(200);
      expect(Number.isFinite(ns)).toBe(true);
      expect(ns).toBeGreaterThan(0);
      for (const bad of [1, 1e6 + 1, 2.5, NaN, '20', undefined]) {
        expect(codeOf(() => b._handoffNs(bad as number))).toBe('RNNX_INVALID_ARGUMENT');
      }
      for (const [threads, secs] of [[0, 0.01], [1, 0], [1, 11], [1.5, 0.01]]) {
        expect(codeOf(() => b._fmaPeak(threads as number, secs as number))).toBe('RNNX_INVALID_ARGUMENT');
      }
    } finally {
      b.setThreads(before);
    }
  });

  it('setCpuIsa accepts supported ISAs and rejects unknown ones', () => {
    const cpu = b.cpuInfo();
    b.setCpuIsa('scalar');
    expect(b.cpuInfo().selected).toBe('scalar');
    b.setCpuIsa(cpu.selected);
    expect(codeOf(() => b.setCpuIsa('sse9'))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => b.setCpuIsa(3 as never))).toBe('RNNX_INVALID_ARGUMENT');
  });

  it('tapes and streams cannot be constructed from JS', () => {
    const cfg = makeConfig();
    const m = newModule(cfg);
    const tape = m.forward(makeArgs(cfg, 2, 1, { requiresGrad: true }))!;
    const TapeCtor = tape.constructor as new (...a: unknown[]) => unknown;
    expect(codeOf(() => new TapeCtor())).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => new TapeCtor({}))).toBe('RNNX_INVALID_ARGUMENT');
    const s = m.createStream(1);
    const StreamCtor = s.constructor as new (...a: unknown[]) => unknown;
    expect(codeOf(() => new StreamCtor())).toBe('RNNX_INVALID_ARGUMENT');
    m.dispose();
  });
});

describe('loader (lib/native/binding.ts)', () => {
  it('finds the package root', async () => {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { name: string };
    expect(pkg.name).toBe('rnnx');
  });

  it('reports a load failure as BinaryLoadError with possible solutions, once', async () => {
    const saved = process.env.RNNX_BINARY;
    process.env.RNNX_BINARY = path.join(tmpdir(), 'rnnx-does-not-exist', 'rnnx.node');
    try {
      vi.resetModules();
      const fresh = await import('../../lib/native/binding.js');
      const e = errorOf(() => fresh.getBinding()) as Error & { code?: string; cause?: unknown };
      expect(e.name).toBe('BinaryLoadError');
      expect(e.code).toBe('RNNX_BINARY_LOAD');
      expect(e.message).toContain(`${process.platform}-${process.arch}`);
      expect(e.message).toContain(`N-API ${process.versions.napi}`);
      expect(e.message).toContain('Possible solutions');
      expect(e.message).toContain('npm rebuild rnnx');
      expect(e.message).toContain(`prebuilds/${process.platform}-${process.arch}`);
      expect(e.cause).toBeInstanceOf(Error);
      expect(errorOf(() => fresh.getBinding())).toBe(e); // cached: no retry
    } finally {
      if (saved === undefined) delete process.env.RNNX_BINARY;
      else process.env.RNNX_BINARY = saved;
      vi.resetModules();
    }
  });
});

describe('type tags', () => {
  it('two copies of the addon never accept each other\'s objects', () => {
    // A copy of the .node file under another path is a second, independent load of the library
    // (as with a prebuilt plus a local build): it has its own random type tags.
    const dir = mkdtempSync(path.join(tmpdir(), 'rnnx-copy-'));
    try {
      const copyPath = path.join(dir, 'rnnx-copy.node');
      copyFileSync(resolveBindingPath(), copyPath);
      const b2 = createRequire(import.meta.url)(copyPath) as NativeBinding;
      expect(b2.RnnModule).not.toBe(b.RnnModule);
      const cfg = makeConfig();
      const w = randomWeights(cfg);
      const m1 = new b.RnnModule(cfg, w);
      const m2 = new b2.RnnModule(cfg, w);
      const fa = makeArgs(cfg, 2, 1, { requiresGrad: true });
      const t2 = m2.forward(fa)!;
      const e = errorOf(() => m1.backward(t2, makeBackwardArgs(cfg, fa)));
      expect(e.code).toBe('RNNX_INVALID_ARGUMENT');
      expect(e).toBeInstanceOf(TypeError);
      m2.backward(t2, makeBackwardArgs(cfg, fa)); // its own module accepts it
      // Methods of one copy refuse `this` from the other.
      expect(codeOf(() => b2.RnnModule.prototype.forward.call(m1, fa))).toBe('RNNX_INVALID_ARGUMENT');
      expect(codeOf(() => b.RnnModule.prototype.paramSpecs.call(m2))).toBe('RNNX_INVALID_ARGUMENT');
      m1.dispose();
      m2.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('methods called on a foreign `this`', () => {
  it('are refused instead of reinterpreting another object', () => {
    const cfg = makeConfig();
    const m = newModule(cfg);
    const fa = makeArgs(cfg, 2, 1, { requiresGrad: true });
    const tape = m.forward(fa)!;
    const stream = m.createStream(1);
    const proto = b.RnnModule.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const tapeProto = Object.getPrototypeOf(tape) as Record<string, (...a: unknown[]) => unknown>;
    const streamProto = Object.getPrototypeOf(stream) as Record<string, (...a: unknown[]) => unknown>;
    for (const self of [tape, stream, {}, null, undefined, 5, Object.create(m)]) {
      expect(codeOf(() => proto.forward!.call(self, fa))).toBe('RNNX_INVALID_ARGUMENT');
      expect(codeOf(() => proto.dispose!.call(self))).toBe('RNNX_INVALID_ARGUMENT');
      const busy = Object.getOwnPropertyDescriptor(b.RnnModule.prototype, 'busy')!.get!;
      expect(codeOf(() => busy.call(self))).toBe('RNNX_INVALID_ARGUMENT');
    }
    expect(codeOf(() => tapeProto.release!.call(m))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => tapeProto.release!.call(stream))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => streamProto.step!.call(tape, new Float32Array(3), new Float32Array(4)))).toBe(
      'RNNX_INVALID_ARGUMENT',
    );
    expect(codeOf(() => streamProto.reset!.call(m))).toBe('RNNX_INVALID_ARGUMENT');
    expect(errorOf(() => proto.forward!.call(tape, fa)).message).toMatch(/^this: expected an RnnModule/);
    // The real objects still work.
    m.backward(tape, makeBackwardArgs(cfg, fa));
    stream.step(new Float32Array(3), new Float32Array(4));
    expect(Object.keys(m)).toEqual([]);
    expect(typeof proto.forward).toBe('function');
    m.dispose();
  });
});

describe('config checks', () => {
  const w = (cfg: NativeRnnConfig) => floatArray(cfg.dtype, paramCount(cfg));
  const bad = (over: Record<string, unknown>) => {
    const cfg = { ...makeConfig(), ...over } as NativeRnnConfig;
    return errorOf(() => new b.RnnModule(cfg, w(makeConfig())));
  };

  it('names every missing or wrong-typed field', () => {
    const fields: [string, unknown][] = [
      ['cell', 'xyz'],
      ['cell', 1],
      ['inputSize', 0],
      ['inputSize', '3'],
      ['hiddenSize', -1],
      ['hiddenSize', 2.5],
      ['hiddenSize', undefined],
      ['projSize', -1],
      ['numLayers', 0],
      ['bidirectional', 1],
      ['batchFirst', 'no'],
      ['bias', null],
      ['linearBeforeReset', undefined],
      ['clip', -1],
      ['clip', Infinity],
      ['dtype', 'float16'],
      ['dtype', undefined],
      ['activations', []],
      ['activations', 'tanh'],
    ];
    for (const [field, value] of fields) {
      const e = bad({ [field]: value });
      expect(e.code, `${field}=${String(value)}`).toBe('RNNX_INVALID_ARGUMENT');
      expect(e.message).toMatch(new RegExp(`^config\\.${field}: expected .* but received `));
    }
    const e = bad({ hiddenSize: -1 });
    expect(e.message).toBe('config.hiddenSize: expected a positive integer but received -1');
    expect(e).toBeInstanceOf(RangeError);
    expect(bad({ hiddenSize: '4' })).toBeInstanceOf(TypeError);
  });

  it('checks each activation', () => {
    const acts = (k: number, alpha = 0) => [act(0), act(k, alpha), act(1)];
    let e = bad({ activations: acts(11) });
    expect(e.code).toBe('RNNX_INVALID_ARGUMENT');
    expect(e.message).toMatch(/^config\.activations\[1\]\.kind: expected an activation id/);
    e = bad({ activations: acts(-1) });
    expect(e.code).toBe('RNNX_INVALID_ARGUMENT');
    e = bad({ activations: acts(ACTIVATION_IDS.tanh, NaN) });
    expect(e.message).toMatch(/^config\.activations\[1\]\.alpha/);
    e = bad({ activations: [act(0), null, act(1)] });
    expect(e.message).toMatch(/^config\.activations\[1\]: expected an object/);
    e = bad({ activations: [act(0), { alpha: 0, beta: 0 }, act(1)] });
    expect(e.message).toMatch(/^config\.activations\[1\]\.kind/);
  });

  it('rejects a non-object config', () => {
    for (const c of [undefined, null, 5, 'lstm', [], () => 0]) {
      expect(codeOf(() => new b.RnnModule(c as never, new Float32Array(1)))).toBe('RNNX_INVALID_ARGUMENT');
    }
  });

  it('passes the core config validation through', () => {
    const cfg = makeConfig({ cell: 'gru', projSize: 2 });
    expect(codeOf(() => new b.RnnModule(cfg, new Float32Array(100)))).toBe('RNNX_INVALID_ARGUMENT');
    const cfg2 = makeConfig({ projSize: 4 }); // projSize must be < hiddenSize
    expect(codeOf(() => new b.RnnModule(cfg2, new Float32Array(100)))).toBe('RNNX_INVALID_ARGUMENT');
  });

  it('runs getters once and copies the config', () => {
    let reads = 0;
    const cfg = makeConfig();
    const proxy = new Proxy(cfg, {
      get(t, k, r) {
        reads++;
        return Reflect.get(t, k, r);
      },
    });
    const m = new b.RnnModule(proxy, randomWeights(cfg));
    expect(reads).toBe(14); // the 14 fields of NativeRnnConfig, each read once
    cfg.hiddenSize = 1000; // no effect on the module
    expect(m.paramCount).toBe(paramCount(makeConfig()));
    m.dispose();
  });
});

describe('weights', () => {
  it('checks dtype and length', () => {
    const cfg = makeConfig();
    const n = paramCount(cfg);
    expect(codeOf(() => new b.RnnModule(cfg, new Float64Array(n)))).toBe('RNNX_DTYPE');
    expect(codeOf(() => new b.RnnModule({ ...cfg, dtype: 'float64' }, new Float32Array(n)))).toBe('RNNX_DTYPE');
    expect(codeOf(() => new b.RnnModule(cfg, new Int32Array(n) as never))).toBe('RNNX_DTYPE');
    expect(codeOf(() => new b.RnnModule(cfg, new Float32Array(n - 1)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => new b.RnnModule(cfg, new Float32Array(n + 1)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => new b.RnnModule(cfg, new Float32Array(0)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => new b.RnnModule(cfg, Array(n).fill(0) as never))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => new b.RnnModule(cfg, undefined as never))).toBe('RNNX_INVALID_ARGUMENT');
    const e = errorOf(() => new b.RnnModule(cfg, new Float64Array(n)));
    expect(e.message).toMatch(/^weights: expected a Float32Array \(the model is float32\) but received a Float64Array/);
  });

  it('rejects a detached buffer without crashing', () => {
    const cfg = makeConfig();
    const w = randomWeights(cfg) as Float32Array;
    structuredClone(w.buffer, { transfer: [w.buffer] });
    expect(w.length).toBe(0);
    expect(codeOf(() => new b.RnnModule(cfg, w))).toBe('RNNX_SHAPE_MISMATCH');
  });

  it('round-trips through getWeights / setWeights and copies them', () => {
    const cfg = makeConfig({ numLayers: 2, bidirectional: true });
    const w = randomWeights(cfg);
    const m = new b.RnnModule(cfg, w);
    expect(m.paramCount).toBe(w.length);
    w.fill(0); // the module holds its own copy
    const out = new Float32Array(m.paramCount);
    m.getWeights(out);
    expect(Array.from(out)).toEqual(Array.from(randomWeights(cfg)));
    const w2 = randomWeights(cfg, 99);
    m.setWeights(w2);
    m.getWeights(out);
    expect(Array.from(out)).toEqual(Array.from(w2));
    expect(codeOf(() => m.getWeights(new Float32Array(3)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => m.getWeights(new Float64Array(m.paramCount)))).toBe('RNNX_DTYPE');
    expect(codeOf(() => m.setWeights(new Float32Array(3)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => m.setWeights(null as never))).toBe('RNNX_INVALID_ARGUMENT');
    m.dispose();
  });

  it('describes its parameters in PyTorch order, contiguously', () => {
    const cfg = makeConfig({ numLayers: 2, bidirectional: true, projSize: 2 });
    const m = newModule(cfg);
    const specs = m.paramSpecs();
    expect(specs[0]).toEqual({ name: 'weight_ih_l0', shape: [16, 3], offset: 0, size: 48 });
    expect(specs.map((s) => s.name)).toContain('weight_hr_l1_reverse');
    let off = 0;
    for (const s of specs) {
      expect(s.offset).toBe(off);
      expect(s.size).toBe(s.shape.reduce((a, c) => a * c, 1));
      off += s.size;
    }
    expect(off).toBe(m.paramCount);
    expect(m.nativeBytes).toBeGreaterThanOrEqual(m.paramCount * 4);
    m.dispose();
  });
});

describe('forward argument checks', () => {
  const cases: { cell: 'lstm' | 'gru'; dtype: 'float32' | 'float64'; batchFirst: boolean }[] = [
    { cell: 'lstm', dtype: 'float32', batchFirst: false },
    { cell: 'lstm', dtype: 'float64', batchFirst: true },
    { cell: 'gru', dtype: 'float32', batchFirst: false },
  ];
  for (const { cell, dtype, batchFirst } of cases) {
    describe(`${cell} ${dtype}${batchFirst ? ' batchFirst' : ''}`, () => {
      const cfg = makeConfig({ cell, dtype, batchFirst, numLayers: 2, bidirectional: true });
      const m = newModule(cfg);
      const T = 3;
      const B = 2;
      const good = () => ({ ...makeArgs(cfg, T, B, { h0: true }) });
      const other = dtype === 'float32' ? 'float64' : 'float32';
      const arrays = ['x', 'y', 'h0', 'hn', ...(cell === 'lstm' ? ['c0', 'cn'] : [])] as const;

      it('accepts the well-formed call', () => {
        expect(m.forward(good())).toBeUndefined();
      });

      for (const name of arrays) {
        it(`checks ${name}'s length, dtype and type`, () => {
          const a = good();
          const n = (a[name] as Float32Array).length;
          expect(codeOf(() => m.forward({ ...a, [name]: floatArray(dtype, n + 1) }))).toBe('RNNX_SHAPE_MISMATCH');
          expect(codeOf(() => m.forward({ ...a, [name]: floatArray(dtype, n - 1) }))).toBe('RNNX_SHAPE_MISMATCH');
          expect(codeOf(() => m.forward({ ...a, [name]: floatArray(dtype, 0) }))).toBe('RNNX_SHAPE_MISMATCH');
          expect(codeOf(() => m.forward({ ...a, [name]: floatArray(other, n) }))).toBe('RNNX_DTYPE');
          expect(codeOf(() => m.forward({ ...a, [name]: new Int32Array(n) as never }))).toBe('RNNX_DTYPE');
          expect(codeOf(() => m.forward({ ...a, [name]: Array(n).fill(0) as never }))).toBe('RNNX_INVALID_ARGUMENT');
          expect(codeOf(() => m.forward({ ...a, [name]: new DataView(new ArrayBuffer(n * 8)) as never }))).toBe(
            'RNNX_INVALID_ARGUMENT',
          );
          const e = errorOf(() => m.forward({ ...a, [name]: floatArray(dtype, n + 1) }));
          expect(e.message).toMatch(new RegExp(`^${name}: expected a Float(32|64)Array of ${n} elements`));
        });
      }

      it('requires x (and y with a tape), allows null h0/hn/c0/cn, and a null y without a tape', () => {
        const a = good();
        expect(codeOf(() => m.forward({ ...a, x: undefined as never }))).toBe('RNNX_INVALID_ARGUMENT');
        expect(codeOf(() => m.forward({ ...a, y: null as never, requiresGrad: true }))).toBe('RNNX_INVALID_ARGUMENT');
        m.forward({ ...a, h0: null, hn: null as never, c0: null, cn: null });
        expect(allFinite(a.y)).toBe(true);
        // no per-step outputs: the same final state as a call that writes them
        m.forward(a);
        const hn = Array.from(a.hn as Float32Array);
        const cn = a.cn ? Array.from(a.cn as Float32Array) : null;
        (a.hn as Float32Array).fill(Number.NaN);
        if (a.cn) (a.cn as Float32Array).fill(Number.NaN);
        expect(m.forward({ ...a, y: null as never })).toBeUndefined();
        expect(Array.from(a.hn as Float32Array)).toEqual(hn);
        if (cn) expect(Array.from(a.cn as Float32Array)).toEqual(cn);
      });

      if (cell !== 'lstm') {
        it('refuses a cell state for a non-LSTM model', () => {
          const a = good();
          const { L, D, H } = dims(cfg);
          const c = floatArray(dtype, L * D * B * H);
          expect(codeOf(() => m.forward({ ...a, c0: c }))).toBe('RNNX_INVALID_ARGUMENT');
          expect(codeOf(() => m.forward({ ...a, cn: c }))).toBe('RNNX_INVALID_ARGUMENT');
        });
      }

      it('checks lengths', () => {
        const a = good();
        m.forward({ ...a, lengths: Int32Array.of(T, 1) });
        expect(codeOf(() => m.forward({ ...a, lengths: Int32Array.of(0, 1) }))).toBe('RNNX_INVALID_ARGUMENT');
        expect(codeOf(() => m.forward({ ...a, lengths: Int32Array.of(T + 1, 1) }))).toBe('RNNX_INVALID_ARGUMENT');
        expect(codeOf(() => m.forward({ ...a, lengths: Int32Array.of(-5, 1) }))).toBe('RNNX_INVALID_ARGUMENT');
        expect(codeOf(() => m.forward({ ...a, lengths: Int32Array.of(1) }))).toBe('RNNX_SHAPE_MISMATCH');
        expect(codeOf(() => m.forward({ ...a, lengths: Int32Array.of(1, 1, 1) }))).toBe('RNNX_SHAPE_MISMATCH');
        expect(codeOf(() => m.forward({ ...a, lengths: Float32Array.of(1, 1) as never }))).toBe('RNNX_DTYPE');
        expect(codeOf(() => m.forward({ ...a, lengths: [1, 1] as never }))).toBe('RNNX_INVALID_ARGUMENT');
      });

      it('checks seqLen, batch and requiresGrad', () => {
        const a = good();
        for (const v of [0, -1, 1.5, NaN, 2 ** 31, Infinity]) {
          expect(codeOf(() => m.forward({ ...a, seqLen: v }))).toBe('RNNX_INVALID_ARGUMENT');
          expect(codeOf(() => m.forward({ ...a, batch: v }))).toBe('RNNX_INVALID_ARGUMENT');
        }
        expect(codeOf(() => m.forward({ ...a, seqLen: '3' as never }))).toBe('RNNX_INVALID_ARGUMENT');
        expect(codeOf(() => m.forward({ ...a, batch: undefined as never }))).toBe('RNNX_INVALID_ARGUMENT');
        expect(codeOf(() => m.forward({ ...a, requiresGrad: 1 as never }))).toBe('RNNX_INVALID_ARGUMENT');
        // A consistent but different seqLen / batch makes every array the wrong length.
        expect(codeOf(() => m.forward({ ...a, seqLen: T + 1 }))).toBe('RNNX_SHAPE_MISMATCH');
        expect(codeOf(() => m.forward({ ...a, batch: B + 1 }))).toBe('RNNX_SHAPE_MISMATCH');
      });

      it('rejects non-object args', () => {
        for (const v of [undefined, null, 5, 'x', [], new Float32Array(3)]) {
          expect(codeOf(() => m.forward(v as never))).toBe('RNNX_INVALID_ARGUMENT');
        }
      });

      it('rejects a buffer detached by a getter that ran before the checks', () => {
        const a = good();
        const x = a.x;
        const args = {
          ...a,
          get y() {
            structuredClone(x.buffer, { transfer: [x.buffer] });
            return a.y;
          },
        };
        expect(codeOf(() => m.forward(args as NativeForwardArgs))).toBe('RNNX_SHAPE_MISMATCH');
      });

      it('forwardAsync rejects (never throws) on bad arguments', async () => {
        const a = good();
        const p = m.forwardAsync({ ...a, x: floatArray(dtype, 1) });
        expect(p).toBeInstanceOf(Promise);
        expect((await rejectionOf(p)).code).toBe('RNNX_SHAPE_MISMATCH');
        expect((await rejectionOf(m.forwardAsync(null as never))).code).toBe('RNNX_INVALID_ARGUMENT');
        expect(m.busy).toBe(false);
      });
    });
  }
});

describe('backward argument checks', () => {
  const cfg = makeConfig({ numLayers: 2 });
  const m = newModule(cfg);
  const fa = makeArgs(cfg, 3, 2, { requiresGrad: true });

  it('checks every gradient array', () => {
    const tape = m.forward(fa)!;
    const ba = makeBackwardArgs(cfg, fa);
    m.backward(tape, ba);
    expect(allFinite(ba.dx) && allFinite(ba.dw)).toBe(true);
    for (const name of ['gy', 'ghn', 'dx', 'dh0', 'dc0', 'dw'] as const) {
      const n = (ba[name] as Float32Array).length;
      expect(codeOf(() => m.backward(tape, { ...ba, [name]: new Float32Array(n + 1) })), name).toBe('RNNX_SHAPE_MISMATCH');
      expect(codeOf(() => m.backward(tape, { ...ba, [name]: new Float64Array(n) })), name).toBe('RNNX_DTYPE');
    }
    const { L, H } = dims(cfg);
    expect(codeOf(() => m.backward(tape, { ...ba, gcn: new Float32Array(L * 2 * H + 1) }))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => m.backward(tape, { ...ba, dx: null as never }))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => m.backward(tape, { ...ba, dw: undefined as never }))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => m.backward(tape, { ...ba, accumulate: 'yes' as never }))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => m.backward(tape, null as never))).toBe('RNNX_INVALID_ARGUMENT');
    tape.release();
  });

  it('refuses foreign objects and tapes of other modules', () => {
    const ba = makeBackwardArgs(cfg, fa);
    for (const t of [undefined, null, {}, 5, new Float32Array(3), m]) {
      const e = errorOf(() => m.backward(t as never, ba));
      expect(e.code).toBe('RNNX_INVALID_ARGUMENT');
      expect(e.message).toMatch(/^tape: expected a tape returned by forward\(\.\.\., requiresGrad\) of this module/);
    }
    const other = newModule(cfg);
    const otherTape = other.forward({ ...fa })!;
    expect(codeOf(() => m.backward(otherTape, ba))).toBe('RNNX_INVALID_ARGUMENT');
    // A stream is a native object too, but not a tape.
    expect(codeOf(() => m.backward(m.createStream(1) as never, ba))).toBe('RNNX_INVALID_ARGUMENT');
    other.dispose();
  });

  it('refuses a released tape and a tape recorded before setWeights', () => {
    const ba = makeBackwardArgs(cfg, fa);
    const tape = m.forward(fa)!;
    tape.release();
    expect(tape.released).toBe(true);
    expect(codeOf(() => m.backward(tape, ba))).toBe('RNNX_DISPOSED');
    const t2 = m.forward(fa)!;
    const w = new Float32Array(m.paramCount);
    m.getWeights(w);
    m.setWeights(w);
    expect(codeOf(() => m.backward(t2, ba))).toBe('RNNX_INVALID_ARGUMENT');
  });

  it('computes input gradients that match finite differences (float64)', () => {
    const c64 = makeConfig({ dtype: 'float64', numLayers: 2, bidirectional: true });
    const m64 = newModule(c64, 5);
    const a = makeArgs(c64, 4, 2, { requiresGrad: true, h0: true, lengths: [4, 2] });
    const loss = (args: NativeForwardArgs) => {
      m64.forward({ ...args, requiresGrad: false });
      let s = 0;
      for (let i = 0; i < args.y.length; i++) s += args.y[i]! * ((i % 5) - 2);
      for (let i = 0; i < args.hn.length; i++) s += args.hn[i]! * 0.5;
      return s;
    };
    const tape = m64.forward(a)!;
    const ba = makeBackwardArgs(c64, a);
    for (let i = 0; i < ba.gy.length; i++) ba.gy[i] = (i % 5) - 2;
    ba.ghn.fill(0.5);
    m64.backward(tape, ba);
    const eps = 1e-6;
    for (const [arr, grad] of [
      [a.x, ba.dx],
      [a.h0!, ba.dh0!],
      [a.c0!, ba.dc0!],
    ] as const) {
      for (const i of [0, 3, arr.length - 1]) {
        const old = arr[i]!;
        arr[i] = old + eps;
        const up = loss(a);
        arr[i] = old - eps;
        const down = loss(a);
        arr[i] = old;
        expect(Math.abs((up - down) / (2 * eps) - grad[i]!)).toBeLessThan(1e-6);
      }
    }
    m64.dispose();
  });
});

describe('forward results', () => {
  it('is deterministic and finite for a small LSTM with random weights', () => {
    const cfg = makeConfig({ inputSize: 5, hiddenSize: 7, numLayers: 2, bidirectional: true });
    const m = newModule(cfg, 3);
    const a1 = makeArgs(cfg, 6, 3, { h0: true, lengths: [6, 4, 1] });
    const a2 = { ...a1, y: floatArray('float32', a1.y.length), hn: floatArray('float32', a1.hn.length), cn: floatArray('float32', a1.cn!.length) };
    m.forward(a1);
    m.forward(a2);
    expect(allFinite(a1.y) && allFinite(a1.hn) && allFinite(a1.cn!)).toBe(true);
    expect(Array.from(a2.y)).toEqual(Array.from(a1.y));
    expect(Array.from(a2.hn)).toEqual(Array.from(a1.hn));
    expect(a1.y.some((v) => v !== 0)).toBe(true);
    m.dispose();
  });

  it('float32 and float64 agree to 1e-5', () => {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      const c32 = makeConfig({ cell, inputSize: 5, hiddenSize: 6, numLayers: 2, bidirectional: true });
      const c64 = { ...c32, dtype: 'float64' as const };
      const w64 = randomWeights(c64, 11);
      const m32 = new b.RnnModule(c32, Float32Array.from(w64));
      const m64 = new b.RnnModule(c64, w64);
      const a64 = makeArgs(c64, 5, 2, { h0: true, lengths: [5, 3] });
      const a32 = makeArgs(c32, 5, 2, { h0: true, lengths: [5, 3] });
      a32.x.set(a64.x);
      a32.h0!.set(a64.h0!);
      if (a32.c0) a32.c0.set(a64.c0!);
      m32.forward(a32);
      m64.forward(a64);
      expect(maxAbsDiff(a32.y, a64.y), cell).toBeLessThan(1e-5);
      expect(maxAbsDiff(a32.hn, a64.hn), cell).toBeLessThan(1e-5);
      m32.dispose();
      m64.dispose();
    }
  });

  it('forwardAsync writes the same results as forward', async () => {
    const cfg = makeConfig({ inputSize: 4, hiddenSize: 8, numLayers: 2 });
    const m = newModule(cfg, 4);
    const sync = makeArgs(cfg, 7, 3, { h0: true, requiresGrad: true });
    const asyncArgs = { ...sync, y: floatArray('float32', sync.y.length), hn: floatArray('float32', sync.hn.length), cn: floatArray('float32', sync.cn!.length) };
    const t1 = m.forward(sync)!;
    const t2 = await m.forwardAsync(asyncArgs);
    expect(t2).toBeDefined();
    expect(Array.from(asyncArgs.y)).toEqual(Array.from(sync.y));
    expect(Array.from(asyncArgs.hn)).toEqual(Array.from(sync.hn));
    expect(Array.from(asyncArgs.cn!)).toEqual(Array.from(sync.cn!));
    const g1 = makeBackwardArgs(cfg, sync);
    const g2 = makeBackwardArgs(cfg, sync);
    m.backward(t1, g1);
    m.backward(t2!, g2);
    expect(Array.from(g2.dw)).toEqual(Array.from(g1.dw));
    expect(await m.forwardAsync({ ...asyncArgs, requiresGrad: false })).toBeUndefined();
    m.dispose();
  });

  it('refuses sync calls while an async forward runs, and a second forwardAsync', async () => {
    const cfg = makeConfig({ inputSize: 32, hiddenSize: 64 });
    const m = newModule(cfg);
    const a = makeArgs(cfg, 50, 8);
    const p = m.forwardAsync(a);
    expect(m.busy).toBe(true);
    const e = errorOf(() => m.forward(makeArgs(cfg, 2, 1)));
    expect(e.code).toBe('RNNX_BUSY');
    expect(e.message).toBe('Module is busy with an async call; await it first');
    expect((await rejectionOf(m.forwardAsync(makeArgs(cfg, 2, 1)))).code).toBe('RNNX_BUSY');
    expect(codeOf(() => m.setWeights(new Float32Array(m.paramCount)))).toBe('RNNX_BUSY');
    expect(codeOf(() => m.createStream(1).step(new Float32Array(32), new Float32Array(64)))).toBe('RNNX_BUSY');
    expect(codeOf(() => b.setCpuIsa('scalar'))).toBe('RNNX_BUSY');
    m.getWeights(new Float32Array(m.paramCount)); // reading is fine
    await p;
    expect(m.busy).toBe(false);
    m.forward(makeArgs(cfg, 2, 1));
    m.dispose();
  });

  it('runs forwardAsync on many modules at once', async () => {
    const cfg = makeConfig({ inputSize: 6, hiddenSize: 10 });
    const mods = Array.from({ length: 8 }, (_, i) => newModule(cfg, i + 1));
    const args = mods.map((_, i) => makeArgs(cfg, 12, 2, { seed: i }));
    await Promise.all(mods.map((m, i) => m.forwardAsync(args[i]!)));
    mods.forEach((m, i) => {
      const ref = { ...args[i]!, y: floatArray('float32', args[i]!.y.length) };
      m.forward(ref);
      expect(Array.from(ref.y)).toEqual(Array.from(args[i]!.y));
      m.dispose();
    });
  });
});

describe('streams', () => {
  it('steps like a forward pass over the whole sequence', () => {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      for (const dtype of ['float32', 'float64'] as const) {
        const cfg = makeConfig({ cell, dtype, inputSize: 3, hiddenSize: 5, numLayers: 2 });
        const m = newModule(cfg, 8);
        const { L, R, H, I, lstm } = dims(cfg);
        const T = 4;
        const B = 2;
        const full = makeArgs(cfg, T, B, { seed: 3 });
        m.forward(full);
        const s = m.createStream(B);
        expect(s.batch).toBe(B);
        const y = floatArray(dtype, B * R);
        for (let t = 0; t < T; t++) {
          s.step(full.x.subarray(t * B * I, (t + 1) * B * I), y);
          expect(maxAbsDiff(y, full.y.subarray(t * B * R, (t + 1) * B * R)), `${cell} ${dtype} t=${t}`).toBeLessThan(1e-6);
        }
        const h = floatArray(dtype, L * B * R);
        const c = lstm ? floatArray(dtype, L * B * H) : null;
        s.getState(h, c);
        expect(maxAbsDiff(h, full.hn)).toBeLessThan(1e-6);
        if (c) expect(maxAbsDiff(c, full.cn!)).toBeLessThan(1e-6);
        // setState / reset
        s.reset();
        s.getState(h, c);
        expect(h.every((v) => v === 0)).toBe(true);
        s.setState(full.hn, full.cn);
        s.getState(h, c);
        expect(Array.from(h)).toEqual(Array.from(full.hn));
        s.dispose();
        m.dispose();
      }
    }
  });

  it('checks its arguments', () => {
    const cfg = makeConfig({ cell: 'gru' });
    const m = newModule(cfg);
    expect(codeOf(() => m.createStream(0))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => m.createStream(1.5))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => m.createStream('2' as never))).toBe('RNNX_INVALID_ARGUMENT');
    const s = m.createStream(2);
    const { I, R } = dims(cfg);
    expect(codeOf(() => s.step(new Float32Array(I), new Float32Array(2 * R)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => s.step(new Float32Array(2 * I), new Float32Array(2 * R + 1)))).toBe('RNNX_SHAPE_MISMATCH');
    expect(codeOf(() => s.step(new Float64Array(2 * I), new Float32Array(2 * R)))).toBe('RNNX_DTYPE');
    expect(codeOf(() => s.step(undefined as never, new Float32Array(2 * R)))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => s.getState(new Float32Array(2 * R), new Float32Array(2 * R)))).toBe('RNNX_INVALID_ARGUMENT');
    expect(codeOf(() => s.setState(new Float32Array(1), null))).toBe('RNNX_SHAPE_MISMATCH');
    const bi = newModule(makeConfig({ bidirectional: true }));
    const e = errorOf(() => bi.createStream(1));
    expect(e.code).toBe('RNNX_INVALID_ARGUMENT');
    expect(e.message).toBe(
      'stream: bidirectional models cannot be streamed (the reverse direction needs the whole sequence)',
    );
    bi.dispose();
    m.dispose();
  });
});

describe('value descriptions in messages', () => {
  it('says what was received', () => {
    const cfg = makeConfig();
    const m = newModule(cfg);
    const a = makeArgs(cfg, 2, 1);
    const msg = (v: unknown) => errorOf(() => m.forward({ ...a, x: v as never })).message;
    expect(msg('abc')).toMatch(/but received the string "abc"$/);
    expect(msg(undefined)).toMatch(/but received undefined$/);
    expect(msg({})).toMatch(/but received an object$/);
    expect(msg([1, 2])).toMatch(/but received an array of 2 elements$/);
    expect(msg(new Float32Array(5))).toMatch(/but received a Float32Array of 5 elements$/);
    expect(msg(randomArray('float64', 6, 1))).toMatch(/but received a Float64Array of 6 elements$/);
    m.dispose();
  });
});
