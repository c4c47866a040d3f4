// Untrusted tfjs files: every malformation is a ModelFormatError naming the file and the reason,
// never a crash, a hang or a huge allocation. Ends with a seeded mutation fuzz over model.json.
import { copyFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../lib/errors.js';
import { loadTfjs } from '../../lib/loaders/tfjs.js';
import { mulberry32 } from '../../lib/random.js';
import { makeRng, rnnCfg, sequential, writeModel } from './tfjsHelpers.js';
import { tempDir } from '../helpers/tmp.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures/tfjs');

async function formatError(file: string, re?: RegExp): Promise<ModelFormatError> {
  let err: unknown;
  try {
    const m = await loadTfjs(file);
    m.dispose();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelFormatError);
  const e = err as ModelFormatError;
  expect(e.message).toContain(file);
  if (re) expect(e.message).toMatch(re);
  return e;
}

function lstmModel() {
  const rng = makeRng(3);
  const ws = [rng.w('lstm/kernel', [2, 12]), rng.w('lstm/recurrent_kernel', [3, 12]), rng.w('lstm/bias', [12])];
  const topo = sequential([rnnCfg('LSTM', 'lstm', 3, { batch_input_shape: [null, null, 2] })]);
  return { topo, ws };
}

function edit(file: string, f: (j: Record<string, any>) => void): string {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  f(j);
  writeFileSync(file, JSON.stringify(j));
  return file;
}

describe('tfjs loader: malformed files', () => {
  it('truncated, oversized and missing shards', async () => {
    const { topo, ws } = lstmModel();
    const a = writeModel(topo, ws);
    truncateSync(join(dirname(a), 'weights.bin'), 100);
    await formatError(a, /truncated/);
    const b = writeModel(topo, ws);
    writeFileSync(join(dirname(b), 'weights.bin'), Buffer.alloc(((2 + 3) * 12 + 12) * 4 + 8));
    await formatError(b, /do not match/);
    const c = writeModel(topo, ws);
    rmSync(join(dirname(c), 'weights.bin'));
    await formatError(c, /cannot be read/);
    const d = edit(writeModel(topo, ws), (j) => (j.weightsManifest[0].paths = ['../../etc/passwd']));
    await formatError(d, /outside/);
  });

  it('shape mismatches, wrong gate counts, absurd shapes, non-finite weights', async () => {
    const { topo } = lstmModel();
    const rng = makeRng(4);
    // recurrent kernel with 3 gate blocks for an LSTM
    await formatError(writeModel(topo, [rng.w('lstm/kernel', [2, 9]), rng.w('lstm/recurrent_kernel', [3, 9]), rng.w('lstm/bias', [9])]), /gate/);
    // kernel for 5 input features where the input has 2
    await formatError(writeModel(topo, [rng.w('lstm/kernel', [5, 12]), rng.w('lstm/recurrent_kernel', [3, 12]), rng.w('lstm/bias', [12])]), /features/);
    // units disagree with the weights
    await formatError(writeModel(sequential([rnnCfg('LSTM', 'lstm', 4, { batch_input_shape: [null, null, 2] })]), lstmModel().ws), /units/);
    // absurd declared shape: no allocation, just an error
    const big = edit(writeModel(topo, lstmModel().ws), (j) => (j.weightsManifest[0].weights[0].shape = [1e9, 1e9]));
    await formatError(big, /2\^28/);
    const huge = edit(writeModel(topo, lstmModel().ws), (j) => (j.weightsManifest[0].weights[0].shape = [2 ** 27, 2]));
    await formatError(huge, /truncated/);
    const nan = lstmModel();
    nan.ws[1]!.data[3] = NaN;
    await formatError(writeModel(nan.topo, nan.ws), /non-finite/);
    // GRU reset_after bias of the wrong form
    const g = makeRng(5);
    await formatError(
      writeModel(sequential([rnnCfg('GRU', 'gru', 2, { reset_after: true, batch_input_shape: [null, null, 2] })]), [g.w('gru/kernel', [2, 6]), g.w('gru/recurrent_kernel', [2, 6]), g.w('gru/bias', [6])]),
      /reset_after/,
    );
  });

  it('unknown layer classes and activations name the class and the layer', async () => {
    const e = await formatError(writeModel(sequential([{ class_name: 'Conv1D', config: { name: 'conv', batch_input_shape: [null, 4, 2] } }]), []));
    expect(e.message).toMatch(/Conv1D/);
    expect(e.message).toMatch(/"conv"/);
    const { ws } = lstmModel();
    await formatError(writeModel(sequential([rnnCfg('LSTM', 'lstm', 3, { activation: 'weird', batch_input_shape: [null, null, 2] })]), ws), /weird/);
    await formatError(writeModel({ class_name: 'Bogus', config: {} }, []), /Bogus/);
    const f = writeModel(sequential([{ class_name: 'Dense', config: { name: 'd', units: 2 } }]), []);
    writeFileSync(f, '{"modelTopology": ');
    await formatError(f, /JSON/);
  });

  it('cyclic and dangling inbound nodes', async () => {
    const rng = makeRng(6);
    const dense = (n: string, from: string) => ({ class_name: 'Dense', name: n, config: { name: n, units: 2 }, inbound_nodes: [[[from, 0, 0, {}]]] });
    const model = (layers: unknown[], out = 'b') => ({
      class_name: 'Model',
      config: {
        name: 'm',
        layers: [{ class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_input_shape: [null, 2] }, inbound_nodes: [] }, ...layers],
        input_layers: [['x', 0, 0]],
        output_layers: [[out, 0, 0]],
      },
    });
    const ws = [rng.w('a/kernel', [2, 2]), rng.w('a/bias', [2]), rng.w('b/kernel', [2, 2]), rng.w('b/bias', [2])];
    await formatError(writeModel(model([dense('a', 'b'), dense('b', 'a')]), ws), /cycle/);
    await formatError(writeModel(model([dense('a', 'a'), dense('b', 'x')]), ws), /cycle/);
    await formatError(writeModel(model([dense('a', 'x'), dense('b', 'nope')]), ws), /dangling/);
    await formatError(writeModel(model([dense('a', 'x'), dense('b', 'a')], 'zzz'), ws), /dangling/);
    const badNode = model([dense('a', 'x'), dense('b', 'a')]);
    (badNode.config.layers[2] as any).inbound_nodes = [[['a', 3, 0, {}]]];
    await formatError(writeModel(badNode, ws), /node 3/);
    const badTensor = model([dense('a', 'x'), dense('b', 'a')]);
    (badTensor.config.layers[2] as any).inbound_nodes = [[['a', 0, 5, {}]]];
    await formatError(writeModel(badTensor, ws), /output 5/);
  });

  it('survives ~1000 seeded mutations of real model.json files with only ModelFormatError', async () => {
    const names = ['tfjs_intent_lstm', 'tfjs_gru_stack_reset_before', 'tfjs_bilstm_tagger', 'keras_gru_reset_after'];
    const dirs = names.map((n) => {
      const d = tempDir('rnnx-tfjs-fuzz-');
      copyFileSync(join(fixtures, n, 'weights.bin'), join(d, 'weights.bin'));
      return { d, json: JSON.parse(readFileSync(join(fixtures, n, 'model.json'), 'utf8')) as unknown };
    });
    const r = mulberry32(20240601);
    const pickInt = (n: number) => Math.floor(r() * n);
    const replacements: (() => unknown)[] = [
      () => null,
      () => undefined,
      () => -1,
      () => 0,
      () => 1e12,
      () => 2 ** 31,
      () => 1.5,
      () => NaN,
      () => 'x',
      () => '',
      () => true,
      () => [],
      () => {},
      () => [null, null],
      () => [1e9, 1e9],
      () => ['InputLayer', 0, 0],
      () => 'LSTM',
      () => 'hard_sigmoid',
    ];
    // every (container, key) in the tree
    const slots = (root: unknown) => {
      const out: { parent: any; key: string | number }[] = [];
      const walk = (v: unknown, depth: number) => {
        if (depth > 12 || v === null || typeof v !== 'object') return;
        const isArr = Array.isArray(v);
        for (const k of Object.keys(v)) {
          const key = isArr ? Number(k) : k;
          out.push({ parent: v, key });
          walk((v as any)[key], depth + 1);
        }
      };
      walk(root, 0);
      return out;
    };
    let loaded = 0;
    let rejected = 0;
    const started = Date.now();
    for (let i = 0; i < 1000; i++) {
      const src = dirs[i % dirs.length]!;
      const j = structuredClone(src.json);
      const nMut = 1 + pickInt(3);
      for (let m = 0; m < nMut; m++) {
        const s = slots(j);
        const slot = s[pickInt(s.length)]!;
        const kind = pickInt(10);
        if (kind === 0 && !Array.isArray(slot.parent)) delete slot.parent[slot.key];
        else if (kind === 1) {
          // copy another subtree here (makes duplicate names, references to odd layers, cycles)
          const other = s[pickInt(s.length)]!;
          slot.parent[slot.key] = structuredClone(other.parent[other.key]);
        } else if (kind === 2 && typeof slot.parent[slot.key] === 'number') slot.parent[slot.key] = slot.parent[slot.key] + (pickInt(2) ? 1 : -1);
        else slot.parent[slot.key] = replacements[pickInt(replacements.length)]!();
      }
      const file = join(src.d, 'model.json');
      writeFileSync(file, JSON.stringify(j) ?? 'null');
      try {
        const model = await loadTfjs(file);
        loaded++;
        model.dispose();
      } catch (e) {
        if (!(e instanceof ModelFormatError)) throw new Error(`mutation ${i} threw ${(e as Error)?.name}: ${(e as Error)?.message}\n${JSON.stringify(j).slice(0, 2000)}`);
        rejected++;
      }
    }
    // truncated shards at random lengths
    for (let i = 0; i < 40; i++) {
      const src = dirs[i % dirs.length]!;
      writeFileSync(join(src.d, 'model.json'), JSON.stringify(src.json));
      const w = join(src.d, 'weights.bin');
      const name = names[i % names.length]!;
      const full = readFileSync(join(fixtures, name, 'weights.bin'));
      writeFileSync(w, full.subarray(0, pickInt(full.length)));
      await formatError(join(src.d, 'model.json'), /truncated/);
      copyFileSync(join(fixtures, name, 'weights.bin'), w);
    }
    expect(rejected).toBeGreaterThan(100);
    expect(loaded + rejected).toBe(1000);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
