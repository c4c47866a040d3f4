import { describe, expect, it } from 'vitest';
import { Tensor } from '../../lib/tensor.js';
import { parseOnnx } from '../../lib/loaders/onnx.js';
import { type ModelSpec, type NodeSpec, type TensorSpec, type ValueSpec, encodeOnnxModel } from '../../lib/loaders/onnx/encode.js';

type In = { name: string; type: ValueSpec['type']; shape: number[]; values: number[] };

/** Runs one node on the given inputs (extra initializers allowed); returns output 0 as { shape, values }. */
async function run1(node: Omit<NodeSpec, 'outputs'> & { outputs?: string[] }, ins: In[], opts: { inits?: TensorSpec[]; opset?: number } = {}) {
  const outputs = node.outputs ?? ['y'];
  const spec: ModelSpec = {
    nodes: [{ ...node, outputs }],
    inputs: ins.map((i) => ({ name: i.name, type: i.type, shape: i.shape })),
    outputs: outputs.map((o) => ({ name: o, type: 'float' })),
    initializers: opts.inits,
    opset: opts.opset,
  };
  const m = parseOnnx(encodeOnnxModel(spec), 'test.onnx');
  const feed: Record<string, Tensor> = {};
  for (const i of ins)
    feed[i.name] = new Tensor(i.type === 'float' ? Float32Array.from(i.values) : i.type === 'double' ? Float64Array.from(i.values) : Int32Array.from(i.values), i.shape);
  const out = await m.run(feed);
  m.dispose();
  const y = out[outputs[0] as string] as Tensor;
  return { shape: [...y.shape], values: Array.from(y.data as ArrayLike<number>) };
}

const f = (name: string, shape: number[], values: number[]): In => ({ name, type: 'float', shape, values });
const i64 = (name: string, dims: number[], values: number[]): TensorSpec => ({ name, type: 'int64', dims, values });
const close = (got: number[], want: number[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, k) => expect(g).toBeCloseTo(want[k] as number, 5));
};

describe('ONNX ops on hand-made graphs', () => {
  const x23 = f('x', [2, 3], [1, -2, 3, -4, 5, -6]);

  it('Identity, Relu, Tanh, Sigmoid', async () => {
    expect((await run1({ op: 'Identity', inputs: ['x'] }, [x23])).values).toEqual([1, -2, 3, -4, 5, -6]);
    expect((await run1({ op: 'Relu', inputs: ['x'] }, [x23])).values).toEqual([1, 0, 3, 0, 5, 0]);
    close((await run1({ op: 'Tanh', inputs: ['x'] }, [x23])).values, [1, -2, 3, -4, 5, -6].map(Math.tanh));
    close((await run1({ op: 'Sigmoid', inputs: ['x'] }, [x23])).values, [1, -2, 3, -4, 5, -6].map((v) => 1 / (1 + Math.exp(-v))));
  });

  it('Add, Sub, Mul, Div with numpy broadcasting', async () => {
    const b = f('b', [3], [10, 20, 30]);
    expect((await run1({ op: 'Add', inputs: ['x', 'b'] }, [x23, b])).values).toEqual([11, 18, 33, 6, 25, 24]);
    expect((await run1({ op: 'Sub', inputs: ['b', 'x'] }, [x23, b])).values).toEqual([9, 22, 27, 14, 15, 36]);
    const c = f('c', [2, 1], [2, -1]);
    const r = await run1({ op: 'Mul', inputs: ['x', 'c'] }, [x23, c]);
    expect(r).toEqual({ shape: [2, 3], values: [2, -4, 6, 4, -5, 6] });
    close((await run1({ op: 'Div', inputs: ['x', 'c'] }, [x23, c])).values, [0.5, -1, 1.5, 4, -5, 6]);
  });

  it('Gather (negative indices, axis 1) and Shape/Gather on shapes', async () => {
    const r = await run1({ op: 'Gather', inputs: ['x', 'idx'], attrs: { axis: 1 } }, [x23], { inits: [i64('idx', [2], [-1, 0])] });
    expect(r).toEqual({ shape: [2, 2], values: [3, 1, -6, -4] });
    const emb = await run1({ op: 'Gather', inputs: ['x', 'ids'] }, [x23, { name: 'ids', type: 'int64', shape: [1, 2], values: [1, 1] }]);
    expect(emb).toEqual({ shape: [1, 2, 3], values: [-4, 5, -6, -4, 5, -6] });
  });

  it('Transpose (default and perm), Flatten', async () => {
    expect(await run1({ op: 'Transpose', inputs: ['x'] }, [x23])).toEqual({ shape: [3, 2], values: [1, -4, -2, 5, 3, -6] });
    const x3 = f('x', [2, 1, 3], [1, 2, 3, 4, 5, 6]);
    expect(await run1({ op: 'Transpose', inputs: ['x'], attrs: { perm: [1, 2, 0] } }, [x3])).toEqual({ shape: [1, 3, 2], values: [1, 4, 2, 5, 3, 6] });
    expect((await run1({ op: 'Flatten', inputs: ['x'], attrs: { axis: 2 } }, [x3])).shape).toEqual([2, 3]);
    expect((await run1({ op: 'Flatten', inputs: ['x'], attrs: { axis: 0 } }, [x3])).shape).toEqual([1, 6]);
  });

  it('Squeeze / Unsqueeze: axes as input (opset 13+) and as attribute (opset 11)', async () => {
    const x3 = f('x', [2, 1, 3], [1, 2, 3, 4, 5, 6]);
    expect((await run1({ op: 'Squeeze', inputs: ['x', 'a'] }, [x3], { inits: [i64('a', [1], [-2])] })).shape).toEqual([2, 3]);
    expect((await run1({ op: 'Squeeze', inputs: ['x'] }, [x3])).shape).toEqual([2, 3]);
    expect((await run1({ op: 'Squeeze', inputs: ['x'], attrs: { axes: [1] } }, [x3], { opset: 11 })).shape).toEqual([2, 3]);
    expect((await run1({ op: 'Unsqueeze', inputs: ['x', 'a'] }, [x23], { inits: [i64('a', [2], [0, -1])] })).shape).toEqual([1, 2, 3, 1]);
    expect((await run1({ op: 'Unsqueeze', inputs: ['x'], attrs: { axes: [1] } }, [x23], { opset: 11 })).shape).toEqual([2, 1, 3]);
  });

  it('Reshape with 0 and -1', async () => {
    const r = await run1({ op: 'Reshape', inputs: ['x', 's'] }, [f('x', [2, 3, 2], Array.from({ length: 12 }, (_, k) => k))], {
      inits: [i64('s', [2], [0, -1])],
    });
    expect(r.shape).toEqual([2, 6]);
    expect(r.values).toEqual(Array.from({ length: 12 }, (_, k) => k));
  });

  it('Slice with axes, steps, negative steps and INT64_MAX ends', async () => {
    const x = f('x', [3, 4], Array.from({ length: 12 }, (_, k) => k));
    const big = 9223372036854775807n;
    const r = await run1({ op: 'Slice', inputs: ['x', 's', 'e', 'a', 'st'] }, [x], {
      inits: [i64('s', [1], [1]), { name: 'e', type: 'int64', dims: [1], values: [Number(big)] }, i64('a', [1], [1]), i64('st', [1], [2])],
    });
    expect(r).toEqual({ shape: [3, 2], values: [1, 3, 5, 7, 9, 11] });
    const rev = await run1({ op: 'Slice', inputs: ['x', 's', 'e', 'a', 'st'] }, [x], {
      inits: [i64('s', [1], [-1]), i64('e', [1], [-100]), i64('a', [1], [0]), i64('st', [1], [-1])],
    });
    expect(rev.values).toEqual([8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3]);
  });

  it('Concat', async () => {
    const r = await run1({ op: 'Concat', inputs: ['x', 'x'], attrs: { axis: -1 } }, [x23]);
    expect(r).toEqual({ shape: [2, 6], values: [1, -2, 3, 1, -2, 3, -4, 5, -6, -4, 5, -6] });
  });

  it('Shape (start/end), ConstantOfShape, Cast, Expand', async () => {
    const x = f('x', [2, 3, 4], new Array(24).fill(0));
    expect(await run1({ op: 'Shape', inputs: ['x'], attrs: { start: 1 } }, [x])).toEqual({ shape: [2], values: [3, 4] });
    const c = await run1({ op: 'ConstantOfShape', inputs: ['s'], attrs: { value: { tensor: { type: 'float', dims: [1], values: [2.5] } } } }, [], {
      inits: [i64('s', [2], [2, 2])],
    });
    expect(c).toEqual({ shape: [2, 2], values: [2.5, 2.5, 2.5, 2.5] });
    expect((await run1({ op: 'Cast', inputs: ['x'], attrs: { to: 7 } }, [f('x', [3], [1.7, -2.7, 0])])).values).toEqual([1, -2, 0]);
    const e = await run1({ op: 'Expand', inputs: ['x', 's'] }, [f('x', [2, 1], [1, 2])], { inits: [i64('s', [3], [2, 1, 3])] });
    expect(e).toEqual({ shape: [2, 2, 3], values: [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2] });
  });

  it('Constant (value, value_float, value_ints)', async () => {
    const r = await run1({ op: 'Constant', inputs: [], attrs: { value: { tensor: { type: 'float', dims: [2], values: [1, 2], raw: false } } } }, []);
    expect(r).toEqual({ shape: [2], values: [1, 2] });
    expect((await run1({ op: 'Constant', inputs: [], attrs: { value_float: { float: 3 } } }, [])).values).toEqual([3]);
    expect((await run1({ op: 'Constant', inputs: [], attrs: { value_ints: [4, 5] } }, [])).values).toEqual([4, 5]);
  });

  it('Gemm (transA, transB, alpha, beta, broadcast C) and MatMul (batched, 1-D)', async () => {
    const a = f('a', [3, 2], [1, 2, 3, 4, 5, 6]); // A^T is 2x3
    const b = f('b', [2, 3], [1, 0, 1, 0, 1, 1]); // B^T is 3x2
    const r = await run1({ op: 'Gemm', inputs: ['a', 'b', 'c'], attrs: { transA: 1, transB: 1, alpha: { float: 2 }, beta: { float: 0.5 } } }, [a, b, f('c', [2], [10, 20])]);
    // A^T = [[1,3,5],[2,4,6]]; B^T = [[1,0],[0,1],[1,1]]; A^T B^T = [[6,8],[8,10]]
    expect(r).toEqual({ shape: [2, 2], values: [17, 26, 21, 30] });
    const m = await run1({ op: 'MatMul', inputs: ['a', 'b'] }, [f('a', [2, 1, 2], [1, 2, 3, 4]), f('b', [2, 2], [1, 0, 0, 1])]);
    expect(m).toEqual({ shape: [2, 1, 2], values: [1, 2, 3, 4] });
    const v = await run1({ op: 'MatMul', inputs: ['a', 'b'] }, [f('a', [2], [1, 2]), f('b', [2, 3], [1, 2, 3, 4, 5, 6])]);
    expect(v).toEqual({ shape: [3], values: [9, 12, 15] });
  });

  it('Softmax and LogSoftmax (axis -1; opset 11 coerces to 2-D)', async () => {
    const s = await run1({ op: 'Softmax', inputs: ['x'] }, [f('x', [2, 2], [0, Math.log(3), 1, 1])]);
    close(s.values, [0.25, 0.75, 0.5, 0.5]);
    const l = await run1({ op: 'LogSoftmax', inputs: ['x'] }, [f('x', [1, 2], [0, Math.log(3)])]);
    close(l.values, [Math.log(0.25), Math.log(0.75)]);
    const o = await run1({ op: 'Softmax', inputs: ['x'], attrs: { axis: 1 } }, [f('x', [1, 2, 2], [0, 0, 0, 0])], { opset: 11 });
    close(o.values, [0.25, 0.25, 0.25, 0.25]);
  });

  it('ReduceMean and ReduceMax (attribute axes; opset 18 axes input; keepdims)', async () => {
    expect(await run1({ op: 'ReduceMean', inputs: ['x'], attrs: { axes: [1] } }, [x23])).toEqual({ shape: [2, 1], values: [2 / 3, -5 / 3].map(Math.fround) });
    expect(await run1({ op: 'ReduceMax', inputs: ['x'], attrs: { axes: [0], keepdims: 0 } }, [x23])).toEqual({ shape: [3], values: [1, 5, 3] });
    expect(await run1({ op: 'ReduceMax', inputs: ['x'], attrs: { keepdims: 0 } }, [x23])).toEqual({ shape: [], values: [5] });
    expect(await run1({ op: 'ReduceMean', inputs: ['x', 'a'] }, [x23], { opset: 18, inits: [i64('a', [1], [-1])] })).toEqual({ shape: [2, 1], values: [2 / 3, -5 / 3].map(Math.fround) });
  });

  it('Equal and Where', async () => {
    const spec: ModelSpec = {
      nodes: [
        { op: 'Equal', inputs: ['ids', 'zero'], outputs: ['m'] },
        { op: 'Where', inputs: ['m', 'neg', 'x'], outputs: ['y'] },
      ],
      inputs: [{ name: 'ids', type: 'int64', shape: ['b', 3] }, { name: 'x', type: 'float', shape: ['b', 3] }],
      outputs: [{ name: 'y', type: 'float' }, { name: 'm', type: 'bool' }],
      initializers: [i64('zero', [], [0]), { name: 'neg', type: 'float', dims: [1], values: [-1] }],
    };
    const m = parseOnnx(encodeOnnxModel(spec), 't.onnx');
    const out = await m.run({ ids: new Tensor(Int32Array.from([0, 5, 0]), [1, 3]), x: new Tensor(Float32Array.from([7, 8, 9]), [1, 3]) });
    expect(Array.from(out.y!.data)).toEqual([-1, 8, -1]);
    expect(Array.from(out.m!.data)).toEqual([1, 0, 1]);
    m.dispose();
  });

  it('validates input names, dtypes and ranks', async () => {
    const m = parseOnnx(encodeOnnxModel({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x', type: 'float', shape: ['b', 3] }], outputs: [{ name: 'y', type: 'float' }] }), 't.onnx');
    expect(m.inputNames).toEqual(['x']);
    expect(m.outputNames).toEqual(['y']);
    await expect(m.run({ x: new Tensor(new Float64Array(3), [1, 3]) })).rejects.toThrow(/Float32Array/);
    await expect(m.run({ x: new Tensor(new Float32Array(3), [3]) })).rejects.toThrow(/shape/);
    await expect(m.run({ x: new Tensor(new Float32Array(4), [1, 4]) })).rejects.toThrow(/shape/);
    await expect(m.run({ z: new Tensor(new Float32Array(3), [1, 3]) } as never)).rejects.toThrow(/inputs\.z/);
    expect((await m.predict(new Tensor(Float32Array.from([-1, 2, -3, 4, 0, 1]), [2, 3]))).shape).toEqual([2, 3]);
    m.dispose();
  });
});
