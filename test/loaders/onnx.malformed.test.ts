/**
 * Untrusted ONNX files: truncations, seeded byte mutations of the fixtures, and hand-made broken
 * graphs must each end in a ModelFormatError (or, for a harmless mutation, a working model) —
 * never another error, a crash or a hang.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DTypeError, InvalidArgumentError, ModelFormatError, ShapeError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { entryToFloat32, entryToInt32, readSafetensorsSync } from '../../lib/io/safetensors.js';
import { loadOnnx, parseOnnx } from '../../lib/loaders/onnx.js';
import { type ModelSpec, encodeOnnxModel } from '../../lib/loaders/onnx/encode.js';
import { mulberry32 } from '../../lib/random.js';

const DIR = new URL('../../../shared/fixtures/onnx/', import.meta.url).pathname;
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.onnx'))
  .sort()
  .map((f) => {
    const io = readSafetensorsSync(join(DIR, f.replace(/\.onnx$/, '.io.safetensors')));
    const inputs: Record<string, Tensor> = {};
    for (const [k, e] of io.tensors)
      if (k.startsWith('input.')) inputs[k.slice(6)] = new Tensor(/^[IU]/.test(e.dtype) ? entryToInt32(e) : entryToFloat32(e), e.shape);
    return { name: f, bytes: new Uint8Array(readFileSync(join(DIR, f))), inputs };
  });

const mulberry = mulberry32;

/** Loads `bytes`; if that works, runs the model. Returns what happened; throws on any unexpected error. */
async function probe(bytes: Uint8Array, inputs: Record<string, Tensor>, what: string): Promise<'loaded' | 'rejected'> {
  let m;
  try {
    m = parseOnnx(bytes, 'fuzz.onnx');
  } catch (e) {
    if (e instanceof ModelFormatError && e.file === 'fuzz.onnx') return 'rejected';
    throw new Error(`${what}: load threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  try {
    const feed: Record<string, Tensor> = {};
    for (const n of m.inputNames) if (inputs[n]) feed[n] = inputs[n] as Tensor;
    await m.run(feed);
  } catch (e) {
    // a mutated model may declare other inputs: the caller's tensors then no longer fit
    const ok = e instanceof ModelFormatError || e instanceof ShapeError || e instanceof DTypeError || e instanceof InvalidArgumentError;
    if (!ok) throw new Error(`${what}: run threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  } finally {
    m.dispose();
  }
  return 'loaded';
}

describe('ONNX loader on untrusted files', () => {
  it('rejects truncated fixtures at many points with ModelFormatError', async () => {
    let rejected = 0;
    for (const f of fixtures) {
      const n = f.bytes.length;
      const cuts = new Set<number>([0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]);
      for (let k = 1; k < 60; k++) cuts.add(Math.floor((n * k) / 60));
      for (const c of cuts) if ((await probe(f.bytes.subarray(0, c), f.inputs, `${f.name} cut at ${c}`)) === 'rejected') rejected++;
    }
    expect(rejected).toBeGreaterThan(fixtures.length * 40);
  });

  it('survives 2000 seeded byte mutations of the fixtures', async () => {
    const rand = mulberry(0xc0ffee);
    let rejected = 0;
    for (let k = 0; k < 2000; k++) {
      const f = fixtures[k % fixtures.length]!;
      const b = f.bytes.slice();
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const pos = Math.floor(rand() * b.length);
        const mode = rand();
        if (mode < 0.5) b[pos] = Math.floor(rand() * 256);
        else if (mode < 0.8) b[pos] = (b[pos] as number) ^ (1 << Math.floor(rand() * 8));
        else b[pos] = [0x00, 0x7f, 0x80, 0xff][Math.floor(rand() * 4)] as number;
      }
      if ((await probe(b, f.inputs, `${f.name} mutation ${k}`)) === 'rejected') rejected++;
    }
    expect(rejected).toBeGreaterThan(100);
  });

  it('rejects garbage, empty and missing files', async () => {
    await expect(loadOnnx('/nonexistent/x.onnx')).rejects.toBeInstanceOf(ModelFormatError);
    expect(() => parseOnnx(new Uint8Array(0), 'e.onnx')).toThrow(ModelFormatError);
    const rand = mulberry(7);
    for (let k = 0; k < 200; k++) {
      const b = Uint8Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256));
      expect(await probe(b, {}, `garbage ${k}`)).toBe('rejected');
    }
  });

  const relu = (over: Partial<ModelSpec> = {}): ModelSpec => ({
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'r' }],
    inputs: [{ name: 'x', type: 'float', shape: ['b', 3] }],
    outputs: [{ name: 'y', type: 'float' }],
    ...over,
  });
  const reject = (spec: ModelSpec, re: RegExp) => {
    let err: unknown;
    try {
      parseOnnx(encodeOnnxModel(spec), 'bad.onnx');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toContain('bad.onnx');
    expect((err as Error).message).toMatch(re);
  };

  it('rejects cyclic graphs', () => {
    reject(
      relu({
        nodes: [
          { op: 'Add', inputs: ['x', 'b'], outputs: ['a'], name: 'first' },
          { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'second' },
          { op: 'Identity', inputs: ['b'], outputs: ['y'] },
        ],
      }),
      /cycle/,
    );
    reject(relu({ nodes: [{ op: 'Add', inputs: ['x', 'y'], outputs: ['y'], name: 'self' }] }), /cycle/);
  });

  it('rejects dangling references and duplicate definitions', () => {
    reject(relu({ nodes: [{ op: 'Add', inputs: ['x', 'nowhere'], outputs: ['y'], name: 'adder' }] }), /node "adder" \(Add\) reads "nowhere"/);
    reject(relu({ outputs: [{ name: 'zz', type: 'float' }] }), /graph output "zz"/);
    reject(relu({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }, { op: 'Tanh', inputs: ['x'], outputs: ['y'] }] }), /defined more than once/);
  });

  it('names the op type and the node of an unsupported operator', () => {
    reject(relu({ nodes: [{ op: 'Conv', inputs: ['x'], outputs: ['y'], name: 'conv1' }] }), /node "conv1" \(Conv\).*operator Conv is not supported/);
    reject(relu({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'q', domain: 'com.microsoft' }] }), /node "q".*domain "com\.microsoft"/);
  });

  it('rejects absurd shapes and mismatched initializer data without allocating', async () => {
    reject(relu({ initializers: [{ name: 'w', type: 'float', dims: [1e9, 1e9], values: [] }] }), /more than \d+ elements/);
    reject(relu({ initializers: [{ name: 'w', type: 'float', dims: [2, 3], values: [1, 2, 3] }] }), /raw data/);
    reject(relu({ initializers: [{ name: 'w', type: 'float', dims: [2, 3], values: [1, 2, 3], raw: false }] }), /holds 3 values/);
    reject(relu({ initializers: [{ name: 'w', type: 'float', dims: [-1], values: [] }] }), /invalid dimension/);
    // a run-time allocation bomb: ConstantOfShape of [1e6, 1e6]
    const m = parseOnnx(
      encodeOnnxModel(
        relu({
          nodes: [{ op: 'ConstantOfShape', inputs: ['s'], outputs: ['y'], name: 'bomb' }],
          initializers: [{ name: 's', type: 'int64', dims: [2], values: [1e6, 1e6] }],
        }),
      ),
      'bomb.onnx',
    );
    await expect(m.run({ x: new Tensor(new Float32Array(3), [1, 3]) })).rejects.toThrow(/node "bomb".*more than \d+ elements/);
    m.dispose();
  });

  it('rejects recurrent weights that are not constants, and bad attributes', () => {
    reject(
      relu({
        nodes: [{ op: 'LSTM', inputs: ['x', 'x', 'x'], outputs: ['y'], name: 'l', attrs: { hidden_size: 3 } }],
      }),
      /node "l" \(LSTM\): W \("x"\) must be an initializer/,
    );
    reject(relu({ nodes: [{ op: 'Transpose', inputs: ['x'], outputs: ['y'], name: 't', attrs: { perm: 'abc' } }] }), /attribute "perm" has type/);
    reject(relu({ opset: 3 }), /opset 3 is not supported/);
  });
});
