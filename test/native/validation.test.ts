// Bad input gets a typed error naming the parameter, what was expected and what came.
import { describe, expect, it } from 'vitest';
import {
  DTypeError,
  DisposedError,
  GRU,
  InvalidArgumentError,
  LSTM,
  RNN,
  ShapeError,
  Tensor,
} from '../../lib/index.js';

const x = () => new Tensor(new Float32Array(5 * 2 * 3).fill(0.1), [5, 2, 3]);
const err = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string; param?: string };
  }
  throw new Error('expected an error');
};

describe('constructor options', () => {
  it('rejects missing, wrong-typed and misspelled options, naming them', () => {
    let e = err(() => new LSTM({ inputSize: 3 } as never));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.param).toBe('options.hiddenSize');
    expect(e.message).toMatch(/options\.hiddenSize.*undefined/);
    e = err(() => new LSTM({ inputSize: 3, hiddenSize: -2 }));
    expect(e.param).toBe('options.hiddenSize');
    expect(e.message).toMatch(/-2/);
    e = err(() => new LSTM({ inputSize: 3.5, hiddenSize: 2 }));
    expect(e.param).toBe('options.inputSize');
    e = err(() => new LSTM({ inputSize: 3, hidden_size: 4 } as never));
    expect(e.message).toMatch(/did you mean 'hiddenSize'/);
    e = err(() => new GRU({ inputSize: 3, hiddenSize: 4, projSize: 2 } as never));
    expect(e.param).toBe('options.projSize');
    e = err(() => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 4 }));
    expect(e.param).toBe('options.projSize');
    e = err(() => new RNN({ inputSize: 3, hiddenSize: 4, nonlinearity: 'sigmoid' as never }));
    expect(e.param).toBe('options.nonlinearity');
    e = err(() => new LSTM({ inputSize: 3, hiddenSize: 4, activations: ['sigmoid', 'tanh', 'nope' as never] }));
    expect(e.param).toBe('options.activations[2]');
    e = err(() => new LSTM({ inputSize: 3, hiddenSize: 4, dtype: 'float16' as never }));
    expect(e.param).toBe('options.dtype');
    e = err(() => new LSTM({ inputSize: 3, hiddenSize: 4, bidirectional: 'yes' as never }));
    expect(e.param).toBe('options.bidirectional');
  });
});

describe('fromStateDict', () => {
  const opts = { inputSize: 3, hiddenSize: 2 };
  const good = () => new LSTM(opts).stateDict();
  it('loads a complete state dict and round-trips it', () => {
    const sd = good();
    const l = LSTM.fromStateDict(sd, opts);
    const back = l.stateDict();
    for (const k of Object.keys(sd)) expect(Array.from(back[k]!.data)).toEqual(Array.from(sd[k]!.data));
    l.dispose();
  });
  it('names a missing weight', () => {
    const sd = good();
    delete (sd as Record<string, unknown>).weight_hh_l0;
    const e = err(() => LSTM.fromStateDict(sd, opts));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toMatch(/Missing weight 'weight_hh_l0'/);
  });
  it('names an extra weight', () => {
    const sd = { ...good(), weight_ih_l1: new Tensor(new Float32Array(24), [8, 3]) };
    const e = err(() => LSTM.fromStateDict(sd, opts));
    expect(e.message).toMatch(/Unexpected weight 'weight_ih_l1'/);
  });
  it('names a mis-shaped weight with both shapes', () => {
    const sd = { ...good(), weight_ih_l0: new Tensor(new Float32Array(24), [3, 8]) };
    const e = err(() => LSTM.fromStateDict(sd, opts));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('stateDict.weight_ih_l0');
    expect(e.message).toMatch(/\[8, 3\].*\[3, 8\]/);
  });
  it('rejects a wrong gate count (GRU weights for an LSTM) and non-finite weights', () => {
    const g = new GRU(opts).stateDict();
    expect(err(() => LSTM.fromStateDict(g, opts))).toBeInstanceOf(ShapeError);
    const sd = good();
    sd.bias_ih_l0!.data[3] = NaN;
    expect(err(() => LSTM.fromStateDict(sd, opts)).param).toBe('stateDict.bias_ih_l0[3]');
  });
});

describe('forward arguments', () => {
  const l = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
  it('x: not a tensor, wrong rank, wrong feature size, wrong dtype', () => {
    expect(err(() => l.forward(new Float32Array(30) as never)).param).toBe('x');
    let e = err(() => l.forward(new Tensor(new Float32Array(30), [30])));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('x');
    e = err(() => l.forward(new Tensor(new Float32Array(40), [5, 2, 4])));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/\[T, B, 3\].*\[5, 2, 4\]/);
    e = err(() => l.forward(new Tensor(new Float64Array(30), [5, 2, 3])));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.param).toBe('x');
    expect(err(() => l.forward(new Tensor(new Int32Array(30), [5, 2, 3])))).toBeInstanceOf(DTypeError);
    expect(err(() => l.forward(new Tensor(new Float32Array(0), [0, 2, 3])))).toBeInstanceOf(ShapeError);
  });
  it('h0 / c0: wrong shape or dtype; c0 on a GRU', () => {
    let e = err(() => l.forward(x(), { h0: new Tensor(new Float32Array(8), [1, 2, 4]) }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('h0');
    e = err(() => l.forward(x(), { c0: new Tensor(new Float64Array(16), [2, 2, 4]) }));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.param).toBe('c0');
    const g = new GRU({ inputSize: 3, hiddenSize: 4 });
    e = err(() => g.forward(x(), { c0: new Tensor(new Float32Array(8), [1, 2, 4]) }));
    expect(e.param).toBe('c0');
    g.dispose();
  });
  it('lengths: 0, above T, non-integer, wrong count, wrong type', () => {
    let e = err(() => l.forward(x(), { lengths: [0, 5] }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.param).toBe('lengths[0]');
    expect(e.message).toMatch(/1\.\.5/);
    e = err(() => l.forward(x(), { lengths: [5, 6] }));
    expect(e.param).toBe('lengths[1]');
    e = err(() => l.forward(x(), { lengths: [2.5, 5] }));
    expect(e.param).toBe('lengths[0]');
    e = err(() => l.forward(x(), { lengths: [5] }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('lengths');
    e = err(() => l.forward(x(), { lengths: 'abc' as never }));
    expect(e.param).toBe('lengths');
    e = err(() => l.forward(x(), { lengths: Int32Array.from([3, -1]) }));
    expect(e.param).toBe('lengths[1]');
  });
  it('unknown option and bad requiresGrad', () => {
    expect(err(() => l.forward(x(), { length: [5, 5] } as never)).message).toMatch(/did you mean 'lengths'/);
    expect(err(() => l.forward(x(), { requiresGrad: 1 as never })).param).toBe('options.requiresGrad');
  });
  it('backward: mis-shaped gradients', () => {
    const t = l.forward(x(), { requiresGrad: true });
    const e = err(() => t.backward({ output: new Tensor(new Float32Array(4), [1, 1, 4]) }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('grads.output');
    t.dispose();
  });
  it('stream: bidirectional models and bad frames', () => {
    const bi = new GRU({ inputSize: 3, hiddenSize: 4, bidirectional: true });
    expect(err(() => bi.stream())).toBeInstanceOf(InvalidArgumentError);
    bi.dispose();
    const s = l.stream({ batch: 2 });
    const e = err(() => s.step(new Tensor(new Float32Array(3), [3])));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('frame');
    s.dispose();
  });
});

describe('dispose', () => {
  it('use after dispose is a DisposedError; dispose is idempotent', async () => {
    const l = new GRU({ inputSize: 3, hiddenSize: 4 });
    const t = l.forward(x(), { requiresGrad: true });
    l.dispose();
    l.dispose();
    expect(l.disposed).toBe(true);
    expect(err(() => l.forward(x()))).toBeInstanceOf(DisposedError);
    await expect(l.forwardAsync(x())).rejects.toBeInstanceOf(DisposedError);
    expect(err(() => l.stateDict())).toBeInstanceOf(DisposedError);
    expect(err(() => l.stream())).toBeInstanceOf(DisposedError);
    expect(err(() => t.backward())).toBeInstanceOf(DisposedError);
  });
});
