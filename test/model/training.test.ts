/**
 * Training: convergence on small tasks within a bounded number of steps, save → load → identical
 * predictions, checkpoint resume reproducing an uninterrupted run, truncated BPTT, and clear
 * errors for bad training input.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  InvalidArgumentError,
  ModelFormatError,
  SequentialModel,
  Tensor,
  WordTokenizer,
  evaluate,
  fit,
  loadModel,
  parseSafetensors,
  scheduleFactor,
  type ModelDescription,
  type TrainData,
} from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnx-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Label = which of the marker tokens 2..5 occurs (once) in a random sequence of filler tokens 6..19. */
function markerTask(n: number, seed: number): TrainData {
  const rnd = mulberry32(seed);
  const inputs: Int32Array[] = [];
  const targets: number[] = [];
  for (let i = 0; i < n; i++) {
    const T = 3 + Math.floor(rnd() * 10);
    const x = Int32Array.from({ length: T }, () => 6 + Math.floor(rnd() * 14));
    const k = Math.floor(rnd() * 4);
    x[Math.floor(rnd() * T)] = 2 + k;
    inputs.push(x);
    targets.push(k);
  }
  return { inputs, targets };
}

const classifier = (cell: 'lstm' | 'gru' | 'rnn', pool: 'max' | 'last' | 'mean' = 'max'): ModelDescription => ({
  version: 1,
  input: { type: 'ids' },
  layers: [
    { type: 'embedding', name: 'embed', num_embeddings: 20, embedding_dim: 8, padding_idx: 0 },
    { type: cell, name: 'rnn', hidden_size: 16, bidirectional: true },
    { type: 'pool', mode: pool },
    { type: 'dropout', p: 0.1 },
    { type: 'dense', name: 'fc', in_features: 32, out_features: 4 },
    { type: 'softmax' },
  ],
  labels: ['a', 'b', 'c', 'd'],
});

describe('training converges', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: a marker-detection task reaches >= 95% validation accuracy within 8 epochs of 19 steps`, async () => {
      const m = SequentialModel.create(classifier(cell), { seed: 1 });
      const h = await fit(m, markerTask(600, 1), {
        epochs: 8,
        batchSize: 32,
        optimizer: { type: 'adam', lr: 0.01 },
        validation: markerTask(200, 2),
        seed: 3,
      });
      expect(h.epochs.length).toBe(8);
      const last = h.epochs[h.epochs.length - 1];
      expect(last?.valAccuracy).toBeGreaterThanOrEqual(0.95);
      expect(last?.loss).toBeLessThan((h.epochs[0]?.loss as number) / 2);
      m.dispose();
    });
  }

  it('SGD with momentum and an MSE regression (sum of a sequence) converge', async () => {
    const rnd = mulberry32(4);
    const mk = (n: number): TrainData => {
      const inputs: Float32Array[] = [];
      const targets: number[] = [];
      for (let i = 0; i < n; i++) {
        const T = 2 + Math.floor(rnd() * 6);
        const x = Float32Array.from({ length: T }, () => rnd() - 0.5);
        inputs.push(x);
        targets.push(x.reduce((a, b) => a + b, 0));
      }
      return { inputs, targets };
    };
    const m = SequentialModel.create(
      {
        version: 1,
        input: { type: 'features', size: 1 },
        layers: [
          { type: 'gru', name: 'g', hidden_size: 12 },
          { type: 'pool', mode: 'last' },
          { type: 'dense', name: 'd', in_features: 12, out_features: 1 },
        ],
        outputs: 'values',
      },
      { seed: 2 },
    );
    const val = mk(100);
    const before = await evaluate(m, val);
    const h = await fit(m, mk(400), { epochs: 15, batchSize: 16, loss: 'mse', optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true }, clipNorm: 1, validation: val });
    const after = await evaluate(m, val);
    expect(before.accuracy).toBeNull();
    expect(after.loss).toBeLessThan(before.loss / 10);
    expect(h.epochs.at(-1)?.valLoss).toBeCloseTo(after.loss, 10);
    m.dispose();
  });

  it('float64 models train too (features, MSE, truncated BPTT)', async () => {
    const rnd = mulberry32(14);
    const mk = (n: number): TrainData => {
      const inputs: Float64Array[] = [];
      const targets: Float64Array[] = [];
      for (let i = 0; i < n; i++) {
        const T = 6 + Math.floor(rnd() * 6);
        const x = Float64Array.from({ length: T }, () => rnd() - 0.5);
        let acc = 0;
        inputs.push(x);
        targets.push(x.map((v) => (acc += v)));
      }
      return { inputs, targets };
    };
    const m = SequentialModel.create(
      {
        version: 1,
        input: { type: 'features', size: 1 },
        layers: [
          { type: 'gru', name: 'g', hidden_size: 8 },
          { type: 'dense', name: 'd', in_features: 8, out_features: 1 },
        ],
        outputs: 'values',
      },
      { seed: 3, dtype: 'float64' },
    );
    const val = mk(40);
    const before = await evaluate(m, val);
    await fit(m, mk(160), { epochs: 8, batchSize: 16, loss: 'mse', tbptt: 4, optimizer: { type: 'adam', lr: 0.02 } });
    expect((await evaluate(m, val)).loss).toBeLessThan(before.loss / 4);
    m.dispose();
  });

  it("a 'last' pool after a per-step dense layer takes each sequence's final step", () => {
    const m = SequentialModel.create(
      {
        version: 1,
        input: { type: 'ids' },
        layers: [
          { type: 'embedding', name: 'e', num_embeddings: 9, embedding_dim: 4 },
          { type: 'lstm', name: 'l', hidden_size: 3, bidirectional: true },
          { type: 'dense', name: 'd', in_features: 6, out_features: 4 },
        ],
      },
      { seed: 2 },
    );
    const pooled = SequentialModel.fromTensors(
      { ...m.description, layers: [...m.description.layers, { type: 'pool', mode: 'last' }] },
      m.stateDict(),
    );
    const x = { ids: new Tensor(Int32Array.from([1, 2, 3, 4, 5, 6, 7, 0]), [2, 4]), lengths: new Tensor(Int32Array.from([4, 3]), [2]) };
    const seq = m.runSync(x).output.data;
    const last = pooled.runSync(x).output.data;
    expect(Array.from(last.subarray(0, 4))).toEqual(Array.from(seq.subarray(3 * 4, 4 * 4)));
    expect(Array.from(last.subarray(4, 8))).toEqual(Array.from(seq.subarray((4 + 2) * 4, (4 + 3) * 4)));
    m.dispose();
    pooled.dispose();
  });

  it('truncated BPTT on a per-step task (echo the previous token) converges', async () => {
    const rnd = mulberry32(8);
    const mk = (n: number): TrainData => {
      const inputs: Int32Array[] = [];
      const targets: Int32Array[] = [];
      for (let i = 0; i < n; i++) {
        const T = 20 + Math.floor(rnd() * 20);
        const x = Int32Array.from({ length: T }, () => 1 + Math.floor(rnd() * 4));
        const y = Int32Array.from({ length: T }, (_, t) => (t === 0 ? -1 : (x[t - 1] as number) - 1));
        inputs.push(x);
        targets.push(y);
      }
      return { inputs, targets };
    };
    const m = SequentialModel.create(
      {
        version: 1,
        input: { type: 'ids' },
        layers: [
          { type: 'embedding', name: 'e', num_embeddings: 5, embedding_dim: 6 },
          { type: 'lstm', name: 'l', hidden_size: 16 },
          { type: 'dense', name: 'd', in_features: 16, out_features: 4 },
        ],
      },
      { seed: 5 },
    );
    const h = await fit(m, mk(200), { epochs: 6, batchSize: 20, tbptt: 8, optimizer: { type: 'adam', lr: 0.02 }, validation: mk(50) });
    expect(h.epochs.at(-1)?.valAccuracy).toBeGreaterThan(0.97);
    m.dispose();
  });

  it('gradient clipping by value and by global norm bound the update (plain SGD, lr 1)', () => {
    const m = SequentialModel.create(classifier('lstm'), { seed: 1 });
    const nm = m.nativeModel;
    const data = markerTask(16, 3);
    const ids = new Int32Array(16 * 12);
    const lengths = new Int32Array(16);
    data.inputs.forEach((x, i) => {
      ids.set(x as Int32Array, i * 12);
      lengths[i] = (x as Int32Array).length;
    });
    const batch = { batch: 16, seqLen: 12, ids, lengths };
    const loss = { kind: 'crossEntropy' as const, classTargets: Int32Array.from(data.targets as number[]), labelSmoothing: 0 };
    const base = { kind: 'sgd' as const, lr: 1, momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clipNorm: 0, clipValue: 0 };
    const g = nm.gradients(batch, loss, 1);
    expect(g.gradNorm).toBeGreaterThan(0.01);
    const p0 = nm.getParams();
    nm.trainStep(batch, loss, { ...base, clipValue: 1e-3 }, 1);
    const p1 = nm.getParams();
    let maxStep = 0;
    let clipped = 0;
    for (let i = 0; i < p0.length; i++) {
      const d = Math.abs((p1[i] as number) - (p0[i] as number));
      maxStep = Math.max(maxStep, d);
      if (Math.abs(g.grads[i] as number) > 1e-3) clipped++;
    }
    expect(clipped).toBeGreaterThan(0);
    expect(maxStep).toBeLessThanOrEqual(1e-3 * (1 + 1e-3));
    expect(maxStep).toBeGreaterThan(0.9e-3);
    nm.setParams(p0);
    nm.setOptimState('sgd', 0, [new Float32Array(p0.length)]);
    nm.trainStep(batch, loss, { ...base, clipNorm: 1e-3 }, 1);
    const p2 = nm.getParams();
    let sq = 0;
    for (let i = 0; i < p0.length; i++) sq += ((p2[i] as number) - (p0[i] as number)) ** 2;
    expect(Math.sqrt(sq)).toBeLessThanOrEqual(1e-3 * 1.001);
    expect(Math.sqrt(sq)).toBeGreaterThan(0.99e-3);
    m.dispose();
  });

  it('learning-rate schedules', () => {
    const s = { type: 'cosine' as const, warmupSteps: 10, minFactor: 0.1, stepEpochs: 1, gamma: 0.5 };
    expect(scheduleFactor(s, 0, 110, 0)).toBeCloseTo(0.1);
    expect(scheduleFactor(s, 9, 110, 0)).toBeCloseTo(1);
    expect(scheduleFactor(s, 10, 110, 0)).toBeCloseTo(1);
    expect(scheduleFactor(s, 60, 110, 0)).toBeCloseTo(0.55);
    expect(scheduleFactor(s, 110, 110, 0)).toBeCloseTo(0.1);
    expect(scheduleFactor({ ...s, type: 'linear', warmupSteps: 0 }, 50, 100, 0)).toBeCloseTo(0.55);
    expect(scheduleFactor({ ...s, type: 'step', warmupSteps: 0 }, 50, 100, 3)).toBeCloseTo(0.125);
  });
});

describe('save and load', () => {
  it('save → loadModel → identical predictions and classify(); the file is plain safetensors', async () => {
    const texts = ['what time is it', 'set an alarm', 'what is the time now', 'wake me up at six', 'tell me the time', 'alarm for noon'];
    const labels = [0, 1, 0, 1, 0, 1];
    const tok = WordTokenizer.train(texts);
    const desc: ModelDescription = {
      version: 1,
      input: { type: 'ids' },
      layers: [
        { type: 'embedding', name: 'embed', num_embeddings: tok.vocabSize, embedding_dim: 8, padding_idx: 0 },
        { type: 'lstm', name: 'rnn', hidden_size: 8, bidirectional: true, num_layers: 2 },
        { type: 'pool', mode: 'meanmax' },
        { type: 'dense', name: 'fc', in_features: 32, out_features: 2 },
        { type: 'softmax' },
      ],
      labels: ['time', 'alarm'],
      tokenizer: tok.toJSON(),
      oos: { label: 'oos', threshold: 0.2 },
    };
    const m = SequentialModel.create(desc, { seed: 4 });
    await fit(m, { inputs: texts.map((t) => tok.encode(t)), targets: labels }, { epochs: 40, batchSize: 6, optimizer: { type: 'adam', lr: 0.02 } });
    const path = join(dir, 'tiny.safetensors');
    await m.save(path);
    const raw = parseSafetensors(readFileSync(path));
    expect(raw.metadata.format).toBe('rnnx');
    expect([...raw.tensors.keys()]).toContain('rnn.weight_ih_l1_reverse');
    const back = await loadModel(path);
    expect(back).toBeInstanceOf(SequentialModel);
    const batch = tok.encodeBatch(texts);
    const input = { ids: new Tensor(batch.ids, batch.shape), lengths: new Tensor(batch.lengths, [texts.length]) };
    const a = (await m.run(input)).output.data;
    const b = (await back.run(input)).output.data;
    expect(Array.from(b)).toEqual(Array.from(a));
    const ca = await m.classify(['what time is it?', 'set an alarm']);
    const cb = await back.classify(['what time is it?', 'set an alarm']);
    expect(cb).toEqual(ca);
    expect(ca[0]?.label).toBe('time');
    expect(ca[1]?.label).toBe('alarm');
    m.dispose();
    back.dispose();
  });

  it('a PyTorch-style state dict with an architecture JSON next to it loads', async () => {
    const m = SequentialModel.create(classifier('gru'), { seed: 7 });
    const { serializeSafetensors } = await import('../../lib/index.js');
    const { writeFileSync } = await import('node:fs');
    const sd = m.stateDict();
    writeFileSync(join(dir, 'torch.safetensors'), serializeSafetensors(sd as never));
    const { labels: _labels, ...arch } = classifier('gru');
    writeFileSync(join(dir, 'torch.json'), JSON.stringify(arch));
    const back = await loadModel(join(dir, 'torch.safetensors'));
    const x = { ids: new Tensor(Int32Array.from([2, 7, 9, 3, 0, 0]), [2, 3]), lengths: new Tensor(Int32Array.from([3, 1]), [2]) };
    expect(Array.from((await back.run(x)).output.data)).toEqual(Array.from((await m.run(x)).output.data));
    // without the JSON: a clear error
    writeFileSync(join(dir, 'lonely.safetensors'), serializeSafetensors(sd as never));
    await expect(loadModel(join(dir, 'lonely.safetensors'))).rejects.toThrow(ModelFormatError);
    // a wrong architecture: a clear error naming the tensor
    await expect(loadModel(join(dir, 'torch.safetensors'), { architecture: { ...arch, layers: classifier('rnn').layers } })).rejects.toThrow(
      /rnn\.weight_ih_l0" has shape \[48, 8\], expected \[16, 8\]/,
    );
    // an architecture needing more values than the file holds: refused before allocating
    await expect(loadModel(join(dir, 'torch.safetensors'), { architecture: { ...arch, layers: classifier('lstm').layers } })).rejects.toThrow(
      /needs \d+ parameters but the tensors hold only/,
    );
    m.dispose();
    back.dispose();
  });
});

describe('checkpoints', () => {
  it('resuming from a checkpoint reproduces the uninterrupted run exactly', async () => {
    const data = markerTask(160, 5);
    const val = markerTask(40, 6);
    const opts = { epochs: 4, batchSize: 16, optimizer: { type: 'adamw' as const, lr: 0.005 }, validation: val, seed: 9, tokenDropout: { p: 0.1 }, ema: 0.9 };
    const full = SequentialModel.create(classifier('lstm'), { seed: 1 });
    const hFull = await fit(full, data, opts);

    const ckpt = join(dir, 'run.ckpt.safetensors');
    const first = SequentialModel.create(classifier('lstm'), { seed: 1 });
    const ac = new AbortController();
    await expect(
      fit(first, data, { ...opts, checkpoint: ckpt, signal: ac.signal, onEpoch: (l) => l.epoch === 2 && ac.abort() }),
    ).rejects.toThrow(AbortError);
    expect(existsSync(ckpt)).toBe(true);
    first.dispose();

    const resumed = SequentialModel.create(classifier('lstm'), { seed: 123 }); // other init: everything comes from the checkpoint
    const hRes = await fit(resumed, data, { ...opts, checkpoint: ckpt, resume: true });
    expect(hRes.epochs.map((e) => e.loss)).toEqual(hFull.epochs.map((e) => e.loss));
    expect(Array.from(resumed.nativeModel.getParams())).toEqual(Array.from(full.nativeModel.getParams()));
    // the checkpoint is itself a loadable model
    const asModel = await loadModel(ckpt);
    expect(asModel).toBeInstanceOf(SequentialModel);
    asModel.dispose();
    // other options: refused, not silently mixed
    const other = SequentialModel.create(classifier('lstm'), { seed: 1 });
    await expect(fit(other, data, { ...opts, batchSize: 8, checkpoint: ckpt, resume: true })).rejects.toThrow(InvalidArgumentError);
    full.dispose();
    resumed.dispose();
    other.dispose();
  });

  it('ema: validation and the final weights use the moving average of the weights', async () => {
    const data = markerTask(96, 21);
    const val = markerTask(40, 22);
    const m = SequentialModel.create(classifier('gru'), { seed: 3 });
    const h = await fit(m, data, { epochs: 2, batchSize: 16, optimizer: { type: 'adam', lr: 0.01 }, validation: val, ema: 0.9 });
    const avg = m.nativeModel.getEma();
    expect(avg).not.toBeNull();
    expect(Array.from(m.nativeModel.getParams())).toEqual(Array.from(avg as Float32Array));
    expect((await evaluate(m, val)).loss).toBeCloseTo(h.epochs[1]?.valLoss as number, 6);
    // the average differs from the last step's weights
    const plain = SequentialModel.create(classifier('gru'), { seed: 3 });
    await fit(plain, data, { epochs: 2, batchSize: 16, optimizer: { type: 'adam', lr: 0.01 }, validation: val });
    expect(Array.from(plain.nativeModel.getParams())).not.toEqual(Array.from(m.nativeModel.getParams()));
    m.dispose();
    plain.dispose();
  });

  it('early stopping restores the best epoch', async () => {
    const m = SequentialModel.create(classifier('gru'), { seed: 2 });
    const val = markerTask(60, 12);
    const h = await fit(m, markerTask(80, 11), {
      epochs: 30,
      batchSize: 8,
      optimizer: { type: 'adam', lr: 0.03 },
      validation: val,
      earlyStopping: { patience: 2, monitor: 'valLoss' },
    });
    const best = Math.min(...h.epochs.map((e) => e.valLoss as number));
    expect(h.bestEpoch).not.toBeNull();
    expect(h.epochs[(h.bestEpoch as number) - 1]?.valLoss).toBe(best);
    if (h.stoppedEarly) expect(h.epochs.length).toBe((h.bestEpoch as number) + 2);
    expect((await evaluate(m, val)).loss).toBeCloseTo(best, 6);
    m.dispose();
  });
});

describe('bad training input', () => {
  const m = SequentialModel.create(classifier('gru'), { seed: 1 });
  afterAll(() => m.dispose());
  it('an empty dataset', async () => {
    await expect(fit(m, { inputs: [], targets: [] })).rejects.toThrow(/empty/);
  });
  it('an unknown label (class index out of range)', async () => {
    const e = await fit(m, { inputs: [Int32Array.of(2, 3)], targets: [4] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).param).toBe('data.targets[0]');
  });
  it('inputs and targets of different lengths', async () => {
    await expect(fit(m, { inputs: [Int32Array.of(2), Int32Array.of(3)], targets: [1] })).rejects.toThrow(/1 targets for 2 inputs/);
  });
  it('token ids outside the vocabulary, empty sequences, unknown options', async () => {
    await expect(fit(m, { inputs: [Int32Array.of(2, 99)], targets: [1] })).rejects.toThrow(/data\.inputs\[0\]\[1\]/);
    await expect(fit(m, { inputs: [new Int32Array(0)], targets: [1] })).rejects.toThrow(/non-empty/);
    await expect(fit(m, { inputs: [Int32Array.of(2)], targets: [1] }, { epoch: 3 } as never)).rejects.toThrow(/epochs/);
    await expect(fit(m, { inputs: [Int32Array.of(2)], targets: [1] }, { optimizer: 'adagrad' as never })).rejects.toThrow(InvalidArgumentError);
  });
  it('a diverging run stops with a clear error instead of NaN weights', async () => {
    const r = SequentialModel.create(
      {
        version: 1,
        input: { type: 'features', size: 1 },
        layers: [
          { type: 'rnn', name: 'r', hidden_size: 4, nonlinearity: 'relu' },
          { type: 'pool', mode: 'mean' },
          { type: 'dense', name: 'd', in_features: 4, out_features: 1 },
        ],
        outputs: 'values',
      },
      { seed: 1 },
    );
    const data = { inputs: Array.from({ length: 32 }, (_, i) => Float32Array.of(i, -i, i)), targets: Array.from({ length: 32 }, (_, i) => 100 * i) };
    await expect(fit(r, data, { epochs: 50, batchSize: 8, loss: 'mse', optimizer: { type: 'sgd', lr: 10 } })).rejects.toThrow(/diverged/);
    r.dispose();
  });
  it('descriptions are checked', () => {
    expect(() => SequentialModel.create({ version: 1, input: { type: 'ids' }, layers: [{ type: 'lstm', name: 'l', hidden_size: 4 }] })).toThrow(
      /recurrent layer needs an input|must start with an embedding/,
    );
    expect(() =>
      SequentialModel.create({
        version: 1,
        input: { type: 'features', size: 3 },
        layers: [
          { type: 'gru', name: 'g', hidden_size: 4 },
          { type: 'pool', mode: 'max' },
          { type: 'dense', name: 'd', in_features: 5, out_features: 2 },
        ],
      }),
    ).toThrow(/in_features is 5 but the layer before gives 4/);
  });
});
