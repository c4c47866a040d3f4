import { describe as suite, expect, it } from 'vitest';
import { DTypeError, InvalidArgumentError, RnnxError, ShapeError, describe, shapeError } from '../../lib/errors.js';
import { Tensor, sameShape, shapeSize } from '../../lib/tensor.js';

function catchErr(fn: () => unknown): RnnxError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RnnxError);
    return e as RnnxError;
  }
  throw new Error('expected an error');
}

suite('Tensor construction', () => {
  it('wraps the data without copying', () => {
    const data = new Float32Array(6);
    const t = new Tensor(data, [2, 3]);
    expect(t.data).toBe(data);
    data[4] = 7;
    expect(t.get(1, 1)).toBe(7);
    expect(t.dtype).toBe('float32');
    expect(t.size).toBe(6);
    expect(t.rank).toBe(2);
  });

  it('keeps a frozen copy of the shape', () => {
    const shape = [2, 3];
    const t = new Tensor(new Int32Array(6), shape);
    shape[0] = 99;
    expect(t.shape).toEqual([2, 3]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(() => (t.shape as number[]).push(1)).toThrow(TypeError);
  });

  it("shares another tensor's frozen shape instead of copying it, and still checks it against the data", () => {
    const t = new Tensor(new Float32Array(6), [2, 3]);
    const u = new Tensor(new Float32Array(6), t.shape);
    expect(u.shape).toBe(t.shape);
    expect(() => (u.shape as number[]).push(1)).toThrow(TypeError);
    const e = catchErr(() => new Tensor(new Float32Array(5), t.shape));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.param).toBe('data');
    // a frozen array the module did not make is validated and copied like any other
    const own = Object.freeze([2, 3]);
    const v = new Tensor(new Float32Array(6), own);
    expect(v.shape).not.toBe(own);
    expect(v.shape).toEqual([2, 3]);
    const bad = Object.freeze([2, -3]);
    expect(catchErr(() => new Tensor(new Float32Array(6), bad)).param).toBe('shape');
  });

  it('infers dtype from the array type', () => {
    expect(new Tensor(new Float64Array(1), [1]).dtype).toBe('float64');
    expect(new Tensor(new Int32Array(1), [1]).dtype).toBe('int32');
    expect(new Tensor(new Float32Array(1), []).rank).toBe(0);
    expect(new Tensor(new Float32Array(0), [0, 5]).size).toBe(0);
  });

  it('rejects unsupported data with a DTypeError naming data', () => {
    for (const bad of [new Uint8Array(6), [1, 2, 3, 4, 5, 6], null, new BigInt64Array(6)]) {
      const e = catchErr(() => new Tensor(bad as unknown as Float32Array, [2, 3]));
      expect(e).toBeInstanceOf(DTypeError);
      expect(e.code).toBe('RNNX_DTYPE');
      expect(e.param).toBe('data');
    }
    expect(catchErr(() => new Tensor(new Uint8Array(6) as unknown as Float32Array, [6])).message).toBe(
      'Expected Float32Array, Float64Array or Int32Array for data but received Uint8Array(6)',
    );
  });

  it('rejects bad shapes with an InvalidArgumentError naming shape', () => {
    const bads: unknown[] = [[2, -3], [2.5, 2], [NaN], ['2', 3], 6, null, new Int32Array([6]), [2 ** 53]];
    for (const bad of bads) {
      const e = catchErr(() => new Tensor(new Float32Array(6), bad as number[]));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.param).toBe('shape');
    }
    expect(catchErr(() => new Tensor(new Float32Array(6), [2, -3])).message).toBe(
      'Expected array of non-negative integers for shape but received [2, -3] (array of length 2): shape[1] is -3 (number)',
    );
  });

  it('rejects a size mismatch with a ShapeError naming data, mentioning both', () => {
    const e = catchErr(() => new Tensor(new Float32Array(5), [2, 3]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.code).toBe('RNNX_SHAPE_MISMATCH');
    expect(e.param).toBe('data');
    expect(e.message).toBe('Expected 6 elements (shape [2, 3]) for data but received Float32Array(5)');
  });
});

suite('Tensor methods', () => {
  it('reshape returns a view and infers -1', () => {
    const t = new Tensor(Float32Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
    const r = t.reshape([6, -1]);
    expect(r.shape).toEqual([6, 4]);
    expect(r.data).toBe(t.data);
    expect(r.get(5, 3)).toBe(23);
    expect(t.reshape([24]).shape).toEqual([24]);
    expect(t.reshape([-1]).shape).toEqual([24]);
    expect(catchErr(() => t.reshape([5, -1]))).toBeInstanceOf(ShapeError);
    expect(catchErr(() => t.reshape([5, 5])).message).toBe('Cannot reshape [2, 3, 4] (24 elements) to [5, 5]');
    expect(catchErr(() => t.reshape([-1, -1]))).toBeInstanceOf(InvalidArgumentError);
    expect(catchErr(() => t.reshape([0, -1]))).toBeInstanceOf(ShapeError);
    const empty = new Tensor(new Float32Array(0), [0, 3]);
    expect(empty.reshape([3, 0]).shape).toEqual([3, 0]);
  });

  it('zeros', () => {
    const z = Tensor.zeros([2, 2]);
    expect(z.data).toBeInstanceOf(Float32Array);
    expect(Array.from(z.data)).toEqual([0, 0, 0, 0]);
    expect(Tensor.zeros([3], 'int32').data).toBeInstanceOf(Int32Array);
    expect(Tensor.zeros([], 'float64').size).toBe(1);
    expect(catchErr(() => Tensor.zeros([2], 'int8' as 'int32')).param).toBe('dtype');
    expect(catchErr(() => Tensor.zeros([-2])).param).toBe('shape');
  });

  it('from infers shapes and rejects ragged input', () => {
    const t = Tensor.from([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Tensor.from(5).shape).toEqual([]);
    expect(Tensor.from([]).shape).toEqual([0]);
    expect(Tensor.from([[], []]).shape).toEqual([2, 0]);
    expect(Tensor.from([Float32Array.of(1, 2), Float32Array.of(3, 4)], 'float64').toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    const ids = Tensor.from([[1, 2]], 'int32');
    expect(ids.data).toBeInstanceOf(Int32Array);

    const ragged = catchErr(() => Tensor.from([[1, 2], [3]]));
    expect(ragged).toBeInstanceOf(ShapeError);
    expect(ragged.param).toBe('values[1]');
    expect(ragged.message).toContain('ragged');
    expect(catchErr(() => Tensor.from([[1, 2], 3])).param).toBe('values[1]');
    expect(catchErr(() => Tensor.from([1, [2]] as never)).param).toBe('values[1]');
    expect(catchErr(() => Tensor.from([[1, 'x']] as never)).message).toBe(
      'Expected number for values[0][1] but received "x" (string)',
    );
    expect(catchErr(() => Tensor.from([1.5], 'int32')).message).toBe(
      'Expected integer in the int32 range for values[0] but received 1.5 (number)',
    );
    expect(catchErr(() => Tensor.from([2 ** 31], 'int32'))).toBeInstanceOf(InvalidArgumentError);
    expect(catchErr(() => Tensor.from('abc' as never)).param).toBe('values');
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(catchErr(() => Tensor.from(cyclic as never))).toBeInstanceOf(InvalidArgumentError);
  });

  it('clone copies the data', () => {
    const t = Tensor.from([1, 2, 3], 'float64');
    const c = t.clone();
    expect(c.data).not.toBe(t.data);
    expect(c.data).toBeInstanceOf(Float64Array);
    c.data[0] = 9;
    expect(t.data[0]).toBe(1);
    expect(c.shape).toEqual(t.shape);
  });

  it('toArray round-trips from()', () => {
    const nested = [
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      [
        [7, 8],
        [9, 10],
        [11, 12],
      ],
    ];
    expect(Tensor.from(nested).toArray()).toEqual(nested);
    expect(Tensor.from(3).toArray()).toBe(3);
    expect(new Tensor(new Float32Array(0), [2, 0]).toArray()).toEqual([[], []]);
  });

  it('get checks the number and range of indices', () => {
    const t = Tensor.from([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.get(0, 2)).toBe(3);
    expect(t.get(1, 0)).toBe(4);
    expect(catchErr(() => t.get(1)).param).toBe('indices');
    const e = catchErr(() => t.get(0, 3));
    expect(e.param).toBe('indices[1]');
    expect(e.message).toBe('Expected integer in [0, 3) for indices[1] but received 3 (number)');
    expect(catchErr(() => t.get(-1, 0)).param).toBe('indices[0]');
    expect(catchErr(() => t.get(0.5, 0)).param).toBe('indices[0]');
    expect(Tensor.from(7).get()).toBe(7);
  });

  it('toString summarises', () => {
    expect(Tensor.from([[1, 2, 3]]).toString()).toBe('Tensor(float32, [1, 3]) [1, 2, 3]');
    const big = Tensor.zeros([100], 'int32');
    expect(big.toString()).toBe('Tensor(int32, [100]) [0, 0, 0, 0, 0, 0, 0, 0, …]');
  });

  it('is described by name, dtype and shape in error messages', () => {
    expect(describe(Tensor.zeros([2, 3]))).toBe('Tensor(float32, [2, 3])');
    expect(shapeError('x', [2, 4], Tensor.zeros([2, 3], 'int32')).message).toBe(
      'Expected shape [2, 4] for x but received [2, 3]',
    );
    expect(Object.prototype.toString.call(Tensor.zeros([1]))).toBe('[object Tensor]');
  });

  it('isTensor', () => {
    expect(Tensor.isTensor(Tensor.zeros([1]))).toBe(true);
    expect(Tensor.isTensor({ data: new Float32Array(1), shape: [1] })).toBe(false);
    expect(Tensor.isTensor(null)).toBe(false);
  });
});

suite('shape helpers', () => {
  it('shapeSize and sameShape', () => {
    expect(shapeSize([2, 3, 4])).toBe(24);
    expect(shapeSize([])).toBe(1);
    expect(shapeSize([5, 0])).toBe(0);
    expect(sameShape([2, 3], [2, 3])).toBe(true);
    expect(sameShape([2, 3], [3, 2])).toBe(false);
    expect(sameShape([2], [2, 1])).toBe(false);
    expect(sameShape([], [])).toBe(true);
  });
});
