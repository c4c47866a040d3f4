// Hand-written tfjs / Keras layers models, each layer type and option, against a plain float64
// reference of Keras semantics (tfjsHelpers.ts).
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../lib/tensor.js';
import { loadTfjs } from '../../lib/loaders/tfjs.js';
import { InvalidArgumentError } from '../../lib/errors.js';
import { relErr } from '../../lib/verify/relErr.js';
import { type CellRef, makeRng, refDense, refRecurrent, reverseTime, rnnCfg, sequential, writeModel } from './tfjsHelpers.js';

const TOL = 1e-5;
const B = 3;
const T = 5;

/** [B, T, F] input with trailing all-zero (masked) steps: lengths 5, 3, 1. */
function paddedInput(rng: ReturnType<typeof makeRng>, F: number) {
  const lens = [5, 3, 1];
  const x = rng.x(B * T * F);
  const mask = new Uint8Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      if (t < lens[b]!) mask[b * T + t] = 1;
      else x.fill(0, (b * T + t) * F, (b * T + t + 1) * F);
    }
  return { x, mask };
}

function cellWeights(rng: ReturnType<typeof makeRng>, prefix: string, cell: CellRef['cell'], I: number, H: number, resetAfter = false, useBias = true) {
  const G = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
  const k = rng.w(`${prefix}/kernel`, [I, G * H]);
  const r = rng.w(`${prefix}/recurrent_kernel`, [H, G * H]);
  const b = useBias ? rng.w(`${prefix}/bias`, resetAfter ? [2, G * H] : [G * H]) : null;
  return { ws: b ? [k, r, b] : [k, r], k, r, b };
}

describe('tfjs loader: recurrent layers', () => {
  const cases: { cls: string; cell: CellRef['cell']; resetAfter?: boolean; goBackwards: boolean; masked: boolean; seq: boolean; act?: string; recAct?: string; useBias?: boolean }[] = [
    { cls: 'LSTM', cell: 'lstm', goBackwards: false, masked: true, seq: true },
    { cls: 'LSTM', cell: 'lstm', goBackwards: true, masked: true, seq: true, recAct: 'sigmoid' },
    { cls: 'LSTM', cell: 'lstm', goBackwards: true, masked: false, seq: false },
    { cls: 'GRU', cell: 'gru', resetAfter: false, goBackwards: false, masked: true, seq: true },
    { cls: 'GRU', cell: 'gru', resetAfter: true, goBackwards: true, masked: true, seq: true, recAct: 'sigmoid' },
    { cls: 'GRU', cell: 'gru', resetAfter: true, goBackwards: false, masked: false, seq: false, useBias: false },
    { cls: 'SimpleRNN', cell: 'rnn', goBackwards: false, masked: true, seq: true, act: 'relu' },
    { cls: 'SimpleRNN', cell: 'rnn', goBackwards: true, masked: true, seq: false, useBias: false },
  ];
  for (const c of cases) {
    const label = `${c.cls}${c.resetAfter !== undefined ? ` reset_after=${c.resetAfter}` : ''} go_backwards=${c.goBackwards} masked=${c.masked} return_sequences=${c.seq} bias=${c.useBias !== false}`;
    it(`${label} (Masking → layer, return_state)`, async () => {
      const rng = makeRng(label.length * 7919);
      const I = 4;
      const H = 3;
      const w = cellWeights(rng, 'rec', c.cell, I, H, c.resetAfter, c.useBias !== false);
      const cfg = rnnCfg(c.cls, 'rec', H, {
        return_sequences: c.seq,
        return_state: true,
        go_backwards: c.goBackwards,
        activation: c.act ?? 'tanh',
        use_bias: c.useBias !== false,
        ...(c.recAct ? { recurrent_activation: c.recAct } : {}),
        ...(c.resetAfter !== undefined ? { reset_after: c.resetAfter } : {}),
      });
      const layers: unknown[] = [{ class_name: 'InputLayer', config: { name: 'x', batch_input_shape: [null, null, I], dtype: 'float32' } }];
      if (c.masked) layers.push({ class_name: 'Masking', config: { name: 'mask', mask_value: 0 } });
      layers.push(cfg);
      // a functional model so that return_state's extra outputs are model outputs
      const fLayers = layers.map((l, i) => ({
        ...(l as object),
        name: ((l as { config: { name: string } }).config.name),
        inbound_nodes: i === 0 ? [] : [[[(layers[i - 1] as { config: { name: string } }).config.name, 0, 0, {}]]],
      }));
      const states = c.cell === 'lstm' ? 2 : 1;
      const topo = {
        class_name: 'Model',
        config: { name: 'm', layers: fLayers, input_layers: [['x', 0, 0]], output_layers: Array.from({ length: 1 + states }, (_, k) => ['rec', 0, k]) },
        keras_version: 'tfjs-layers 4.22.0',
      };
      const file = writeModel(topo, w.ws);
      const model = await loadTfjs(file);
      expect(model.inputNames).toEqual(['x']);
      expect(model.outputNames).toEqual(states === 2 ? ['rec', 'rec_1', 'rec_2'] : ['rec', 'rec_1']);
      const { x, mask } = c.masked ? paddedInput(rng, I) : { x: rng.x(B * T * I), mask: null };
      const out = await model.run({ x: new Tensor(x, [B, T, I]) });
      const ref = refRecurrent(
        { cell: c.cell, I, H, kernel: w.k.data, rec: w.r.data, bias: w.b?.data ?? null, resetAfter: c.resetAfter, act: c.act ?? 'tanh', recAct: c.recAct ?? 'hard_sigmoid' },
        x, B, T, c.goBackwards, mask,
      );
      if (c.seq) {
        expect(out.rec!.shape).toEqual([B, T, H]);
        expect(relErr(out.rec!.data, ref.seq)).toBeLessThanOrEqual(TOL);
      } else {
        expect(out.rec!.shape).toEqual([B, H]);
        expect(relErr(out.rec!.data, ref.h)).toBeLessThanOrEqual(TOL);
      }
      expect(relErr(out.rec_1!.data, ref.h)).toBeLessThanOrEqual(TOL);
      if (states === 2) expect(relErr(out.rec_2!.data, ref.c)).toBeLessThanOrEqual(TOL);
      model.dispose();
    });
  }

  for (const mode of ['concat', 'sum', 'mul', 'ave', null] as const) {
    for (const seq of [true, false]) {
      it(`Bidirectional(LSTM) merge_mode=${mode} return_sequences=${seq}, Embedding mask_zero`, async () => {
        const rng = makeRng(1234 + (mode?.length ?? 0) * 10 + (seq ? 1 : 0));
        const V = 11;
        const D = 4;
        const H = 3;
        const emb = rng.w('emb/embeddings', [V, D]);
        const fw = cellWeights(rng, 'bi/forward_lstm/lstm_cell', 'lstm', D, H);
        const bw = cellWeights(rng, 'bi/backward_lstm/lstm_cell', 'lstm', D, H);
        const topo = sequential([
          { class_name: 'Embedding', config: { name: 'emb', input_dim: V, output_dim: D, mask_zero: true, batch_input_shape: [null, null] } },
          { class_name: 'Bidirectional', config: { name: 'bi', merge_mode: mode, layer: rnnCfg('LSTM', 'lstm', H, { return_sequences: seq }) } },
        ]);
        const file = writeModel(topo, [emb, ...fw.ws, ...bw.ws]);
        const model = await loadTfjs(file);
        const ids = Int32Array.from([3, 4, 5, 6, 7, 1, 2, 8, 0, 0, 9, 0, 0, 0, 0]);
        const mask = Uint8Array.from(ids, (v) => (v !== 0 ? 1 : 0));
        const x = new Float64Array(B * T * D);
        ids.forEach((id, i) => x.set(emb.data.subarray(id * D, id * D + D), i * D));
        const p = (w: typeof fw): CellRef => ({ cell: 'lstm', I: D, H, kernel: w.k.data, rec: w.r.data, bias: w.b!.data, act: 'tanh', recAct: 'hard_sigmoid' });
        const a = refRecurrent(p(fw), x, B, T, false, mask);
        const b = refRecurrent(p(bw), x, B, T, true, mask);
        const ya = seq ? a.seq : a.h;
        const yb = seq ? reverseTime(b.seq, B, T, H) : b.h;
        const out = await model.run({ [model.inputNames[0]!]: new Tensor(ids, [B, T]) });
        const pre = seq ? [B, T] : [B];
        if (mode === null) {
          expect(model.outputNames.length).toBe(1);
          // merge_mode null: the layer has two outputs; the Sequential's output is the first
        }
        const got = out[model.outputNames[0]!]!;
        let want: Float64Array;
        if (mode === 'concat') {
          const rows = ya.length / H;
          want = new Float64Array(rows * 2 * H);
          for (let r = 0; r < rows; r++) {
            want.set(ya.subarray(r * H, (r + 1) * H), r * 2 * H);
            want.set(yb.subarray(r * H, (r + 1) * H), r * 2 * H + H);
          }
          expect(got.shape).toEqual([...pre, 2 * H]);
        } else {
          want = ya.map((v, i) => (mode === 'sum' ? v + yb[i]! : mode === 'mul' ? v * yb[i]! : mode === 'ave' ? (v + yb[i]!) / 2 : v));
          expect(got.shape).toEqual([...pre, H]);
        }
        expect(relErr(got.data, want)).toBeLessThanOrEqual(TOL);
        model.dispose();
      });
    }
  }

  it('Bidirectional(GRU) return_state gives forward then backward states', async () => {
    const rng = makeRng(77);
    const I = 3;
    const H = 2;
    const fw = cellWeights(rng, 'bi/forward_gru', 'gru', I, H, true);
    const bw = cellWeights(rng, 'bi/backward_gru', 'gru', I, H, true);
    const inner = rnnCfg('GRU', 'gru', H, { return_state: true, reset_after: true, recurrent_activation: 'sigmoid' });
    const topo = {
      class_name: 'Functional',
      config: {
        name: 'f',
        layers: [
          { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_shape: [null, null, I], dtype: 'float32' }, inbound_nodes: [] },
          { class_name: 'Bidirectional', name: 'bi', config: { name: 'bi', merge_mode: 'sum', layer: inner }, inbound_nodes: [[['x', 0, 0, {}]]] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['bi', 0, 0], ['bi', 0, 1], ['bi', 0, 2]],
      },
      keras_version: '2.15.0',
    };
    const file = writeModel(topo, [...fw.ws, ...bw.ws]);
    const model = await loadTfjs(file);
    const x = rng.x(B * T * I);
    const out = await model.run({ x: new Tensor(x, [B, T, I]) });
    const p = (w: typeof fw): CellRef => ({ cell: 'gru', I, H, kernel: w.k.data, rec: w.r.data, bias: w.b!.data, resetAfter: true, act: 'tanh', recAct: 'sigmoid' });
    const a = refRecurrent(p(fw), x, B, T, false, null);
    const b = refRecurrent(p(bw), x, B, T, true, null);
    expect(model.outputNames).toEqual(['bi', 'bi_1', 'bi_2']);
    expect(relErr(out.bi!.data, a.h.map((v, i) => v + b.h[i]!))).toBeLessThanOrEqual(TOL);
    expect(relErr(out.bi_1!.data, a.h)).toBeLessThanOrEqual(TOL);
    expect(relErr(out.bi_2!.data, b.h)).toBeLessThanOrEqual(TOL);
    model.dispose();
  });

  it('rejects padding that is not trailing, with a clear error', async () => {
    const rng = makeRng(5);
    const emb = rng.w('emb/embeddings', [5, 2]);
    const l = cellWeights(rng, 'lstm', 'lstm', 2, 2);
    const file = writeModel(sequential([
      { class_name: 'Embedding', config: { name: 'emb', input_dim: 5, output_dim: 2, mask_zero: true, batch_input_shape: [null, null] } },
      rnnCfg('LSTM', 'lstm', 2),
    ]), [emb, ...l.ws]);
    const model = await loadTfjs(file);
    await expect(model.run({ [model.inputNames[0]!]: new Tensor(Int32Array.from([1, 0, 2]), [1, 3]) })).rejects.toThrow(InvalidArgumentError);
    await expect(model.run({ [model.inputNames[0]!]: new Tensor(Int32Array.from([1, 0, 2]), [1, 3]) })).rejects.toThrow(/only at the end/);
    // an all-padding sequence gives the initial (zero) state
    const out = await model.run({ [model.inputNames[0]!]: new Tensor(Int32Array.from([1, 2, 0, 0, 0, 0]), [2, 3]) });
    expect(Array.from(out.lstm!.data.subarray(2))).toEqual([0, 0]);
    // ids out of range
    await expect(model.run({ [model.inputNames[0]!]: new Tensor(Int32Array.from([1, 7, 2]), [1, 3]) })).rejects.toThrow(InvalidArgumentError);
    model.dispose();
  });
});

describe('tfjs loader: feed-forward layers and topologies', () => {
  it('Dense, TimeDistributed(Dense), Dropout, Activation in a Sequential model', async () => {
    const rng = makeRng(99);
    const I = 4;
    const H = 5;
    const rnn = cellWeights(rng, 'rnn', 'rnn', I, H);
    const td = [rng.w('td/kernel', [H, 3]), rng.w('td/bias', [3])];
    const d = [rng.w('dense/kernel', [3, 2])];
    const topo = sequential([
      rnnCfg('SimpleRNN', 'rnn', H, { return_sequences: true, batch_input_shape: [null, null, I] }),
      { class_name: 'Dropout', config: { name: 'drop', rate: 0.5 } },
      { class_name: 'TimeDistributed', config: { name: 'td', layer: { class_name: 'Dense', config: { name: 'inner', units: 3, activation: 'relu' } } } },
      { class_name: 'Dense', config: { name: 'dense', units: 2, activation: 'linear', use_bias: false } },
      { class_name: 'Activation', config: { name: 'act', activation: 'softmax' } },
    ]);
    const model = await loadTfjs(writeModel(topo, [...rnn.ws, ...td, ...d]));
    expect(model.inputNames).toEqual(['rnn_input']);
    expect(model.outputNames).toEqual(['act']);
    const x = rng.x(B * T * I);
    const out = await model.run({ rnn_input: new Tensor(x, [B, T, I]) });
    const r = refRecurrent({ cell: 'rnn', I, H, kernel: rnn.k.data, rec: rnn.r.data, bias: rnn.b!.data, act: 'tanh' }, x, B, T, false, null);
    const y1 = refDense(r.seq, B * T, H, td[0]!.data, td[1]!.data, 3, 'relu');
    const y2 = refDense(y1, B * T, 3, d[0]!.data, null, 2, 'linear');
    const y3 = refDense(y2, B * T, 2, Float32Array.from([1, 0, 0, 1]), null, 2, 'softmax');
    expect(out.act!.shape).toEqual([B, T, 2]);
    expect(relErr(out.act!.data, y3)).toBeLessThanOrEqual(TOL);
    // predict: single input → first output; runs serialise
    const [p1, p2] = await Promise.all([model.predict(new Tensor(x, [B, T, I])), model.predict(new Tensor(x, [B, T, I]))]);
    expect(Array.from(p1.data)).toEqual(Array.from(out.act!.data));
    expect(Array.from(p2.data)).toEqual(Array.from(out.act!.data));
    model.dispose();
  });

  it('a functional model with two branches, Concatenate and Keras 2 weight names', async () => {
    const rng = makeRng(4242);
    const I = 3;
    const l = cellWeights(rng, 'lstm/lstm_cell', 'lstm', I, 2);
    const g = cellWeights(rng, 'gru/gru_cell', 'gru', I, 3, true);
    const d = [rng.w('out/kernel:0', [5, 2]), rng.w('out/bias:0', [2])];
    const ref = (n: string, k = 0) => [[[n, 0, k, {}]]];
    const topo = {
      class_name: 'Model',
      config: {
        name: 'two',
        layers: [
          { class_name: 'InputLayer', name: 'frames', config: { name: 'frames', batch_input_shape: [null, null, I], dtype: 'float32' }, inbound_nodes: [] },
          { class_name: 'LSTM', name: 'lstm', config: rnnCfg('LSTM', 'lstm', 2, { recurrent_activation: 'sigmoid' }).config, inbound_nodes: ref('frames') },
          { class_name: 'GRU', name: 'gru', config: rnnCfg('GRU', 'gru', 3, { reset_after: true, recurrent_activation: 'sigmoid' }).config, inbound_nodes: ref('frames') },
          { class_name: 'Concatenate', name: 'cat', config: { name: 'cat', axis: -1 }, inbound_nodes: [[['lstm', 0, 0, {}], ['gru', 0, 0, {}]]] },
          { class_name: 'Dense', name: 'out', config: { name: 'out', units: 2, activation: 'sigmoid' }, inbound_nodes: ref('cat') },
        ],
        input_layers: [['frames', 0, 0]],
        output_layers: [['out', 0, 0], ['lstm', 0, 0]],
      },
      keras_version: '2.15.0',
      backend: 'tensorflow',
    };
    const model = await loadTfjs(writeModel(topo, [...l.ws, ...g.ws, ...d], { generatedBy: 'keras' }));
    expect(model.outputNames).toEqual(['out', 'lstm']);
    const x = rng.x(B * T * I);
    const out = await model.run({ frames: new Tensor(x, [B, T, I]) });
    const a = refRecurrent({ cell: 'lstm', I, H: 2, kernel: l.k.data, rec: l.r.data, bias: l.b!.data, act: 'tanh', recAct: 'sigmoid' }, x, B, T, false, null);
    const b = refRecurrent({ cell: 'gru', I, H: 3, kernel: g.k.data, rec: g.r.data, bias: g.b!.data, resetAfter: true, act: 'tanh', recAct: 'sigmoid' }, x, B, T, false, null);
    const cat = new Float64Array(B * 5);
    for (let i = 0; i < B; i++) {
      cat.set(a.h.subarray(i * 2, i * 2 + 2), i * 5);
      cat.set(b.h.subarray(i * 3, i * 3 + 3), i * 5 + 2);
    }
    expect(relErr(out.out!.data, refDense(cat, B, 5, d[0]!.data, d[1]!.data, 2, 'sigmoid'))).toBeLessThanOrEqual(TOL);
    expect(relErr(out.lstm!.data, a.h)).toBeLessThanOrEqual(TOL);
    model.dispose();
  });

  it('Keras 3 functional configs (__keras_tensor__ inbound nodes, batch_shape, hard_sigmoid = relu6(x+3)/6)', async () => {
    const rng = makeRng(31);
    const I = 2;
    const H = 2;
    const w = cellWeights(rng, 'functional/rnn_gru/gru_cell', 'gru', I, H, true);
    const kt = (n: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, null, I], dtype: 'float32', keras_history: [n, 0, 0] } });
    const topo = {
      class_name: 'Functional',
      config: {
        name: 'functional',
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, null, I], dtype: 'float32' }, inbound_nodes: [] },
          {
            module: 'keras.layers',
            class_name: 'GRU',
            name: 'rnn_gru',
            config: { ...rnnCfg('GRU', 'rnn_gru', H, { reset_after: true, recurrent_activation: 'hard_sigmoid' }).config, dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } } },
            inbound_nodes: [{ args: [kt('in')], kwargs: { training: false } }],
          },
        ],
        input_layers: ['in', 0, 0],
        output_layers: ['rnn_gru', 0, 0],
      },
      keras_version: '3.6.0',
    };
    const model = await loadTfjs(writeModel(topo, w.ws, { generatedBy: 'keras 3' }));
    const x = rng.x(B * T * I, 3);
    const out = await model.run({ in: new Tensor(x, [B, T, I]) });
    // reference with Keras 3's hard sigmoid
    const ref = refRecurrent({ cell: 'gru', I, H, kernel: w.k.data, rec: w.r.data, bias: w.b!.data, resetAfter: true, act: 'tanh', recAct: 'hard_sigmoid3' }, x, B, T, false, null);
    expect(relErr(out.rnn_gru!.data, ref.h)).toBeLessThanOrEqual(TOL);
    model.dispose();
  });

  it('save writes a tfjs folder that loads back with identical outputs', async () => {
    const rng = makeRng(8);
    const l = cellWeights(rng, 'gru', 'gru', 2, 3);
    const file = writeModel(sequential([rnnCfg('GRU', 'gru', 3, { batch_input_shape: [null, null, 2], reset_after: false })]), l.ws);
    const model = await loadTfjs(file);
    const x = new Tensor(rng.x(2 * 4 * 2), [2, 4, 2]);
    const a = await model.predict(x);
    const target = file.replace(/model\.json$/, 'copy.json');
    await model.save(target);
    const again = await loadTfjs(target);
    expect(Array.from((await again.predict(x)).data)).toEqual(Array.from(a.data));
    model.dispose();
    again.dispose();
  });
});
