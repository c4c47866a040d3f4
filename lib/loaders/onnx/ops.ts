/**
 * The small ONNX operators that exporters put around recurrent layers, as plain TypeScript
 * loops over {@link Val}s. Each op is a factory: it reads and checks the node's attributes once,
 * at load, and returns the kernel that runs it.
 */
import { AttrType, type AttrMsg, type NodeMsg } from './proto.js';
import {
  type Val,
  type VData,
  type VDType,
  alloc,
  broadcastIndex,
  broadcastShapes,
  checkShape,
  fail,
  formatDims,
  fromOnnxType,
  intList,
  isFloat,
  isIntLike,
  makeVal,
  normAxis,
  onnxTypeName,
  size,
  strides,
  tensorFromProto,
} from './values.js';

export type Kernel = (inputs: (Val | null)[]) => Val[] | Promise<Val[]>;

export interface OpContext {
  node: NodeMsg;
  /** Opset version of the default domain. */
  opset: number;
  attrs: Attrs;
  /** Values known at load (initializers, Constant outputs), by name. */
  consts: Map<string, Val>;
}

export type OpFactory = (ctx: OpContext) => Kernel;

// ---------------------------------------------------------------------------------------------
// Attributes

export class Attrs {
  private readonly map = new Map<string, AttrMsg>();
  constructor(list: AttrMsg[]) {
    for (const a of list) {
      if (a.refAttrName !== '') fail(`attribute "${a.name}" refers to a function attribute, which rnnx does not support`);
      if (this.map.has(a.name)) fail(`attribute "${a.name}" is given twice`);
      this.map.set(a.name, a);
    }
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  names(): string[] {
    return [...this.map.keys()];
  }
  private get(name: string, type: number): AttrMsg | undefined {
    const a = this.map.get(name);
    if (a !== undefined && a.type !== 0 && a.type !== type)
      fail(`attribute "${name}" has type ${a.type}, expected type ${type}`);
    return a;
  }
  int(name: string, dflt: number): number {
    const a = this.get(name, AttrType.INT);
    if (a === undefined) return dflt;
    if (!Number.isSafeInteger(a.i)) fail(`attribute "${name}" is out of range`);
    return a.i;
  }
  float(name: string, dflt: number): number {
    const a = this.get(name, AttrType.FLOAT);
    return a === undefined ? dflt : a.f;
  }
  string(name: string, dflt: string): string {
    const a = this.get(name, AttrType.STRING);
    return a === undefined ? dflt : a.s;
  }
  ints(name: string): number[] | undefined {
    const a = this.get(name, AttrType.INTS);
    if (a === undefined) return undefined;
    for (const v of a.ints) if (!Number.isSafeInteger(v)) fail(`attribute "${name}" holds an out-of-range value`);
    return a.ints;
  }
  floats(name: string): number[] | undefined {
    return this.get(name, AttrType.FLOATS)?.floats;
  }
  strings(name: string): string[] | undefined {
    return this.get(name, AttrType.STRINGS)?.strings;
  }
  tensor(name: string): Val | undefined {
    const a = this.get(name, AttrType.TENSOR);
    if (a === undefined) return undefined;
    if (a.t === null) fail(`attribute "${name}" holds no tensor`);
    return tensorFromProto(a.t, `attribute "${name}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function need(inputs: (Val | null)[], i: number, what: string): Val {
  const v = inputs[i];
  if (v === null || v === undefined) fail(`input ${i} (${what}) is missing`);
  return v;
}

function sameDType(a: Val, b: Val): void {
  if (a.dtype !== b.dtype) fail(`inputs have different types (${a.dtype} and ${b.dtype})`);
}

function floatIn(v: Val, what: string): void {
  if (!isFloat(v)) fail(`${what} must be float, not ${v.dtype}`);
}

function cast(v: Val, to: VDType): Val {
  if (v.dtype === to) return v;
  const out = alloc(to, v.data.length);
  const src = v.data;
  if (to === 'bool') for (let i = 0; i < src.length; i++) out[i] = src[i] !== 0 ? 1 : 0;
  else if (to === 'int64' || to === 'int32') {
    for (let i = 0; i < src.length; i++) {
      const x = src[i] as number;
      if (!Number.isFinite(x)) fail(`cannot cast the non-finite value ${x} to ${to}`);
      const t = Math.trunc(x);
      out[i] = to === 'int32' ? t | 0 : t;
    }
  } else for (let i = 0; i < src.length; i++) out[i] = src[i] as number;
  return { dtype: to, shape: v.shape, data: out };
}

/** Applies `fn` to every element, broadcasting the inputs. */
function broadcastMap(vals: Val[], outType: VDType, fn: (xs: number[]) => number): Val {
  const shape = broadcastShapes(vals.map((v) => v.shape));
  const n = size(shape);
  const out = alloc(outType, n);
  const idx = vals.map((v) => (v.data.length === n && v.shape.length === shape.length ? null : broadcastIndex(v.shape, shape)));
  const xs = new Array<number>(vals.length).fill(0);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < vals.length; j++) {
      const ix = idx[j];
      xs[j] = (vals[j] as Val).data[ix === null || ix === undefined ? k : (ix[k] as number)] as number;
    }
    out[k] = fn(xs);
  }
  return { dtype: outType, shape, data: out };
}

function broadcastTo(x: Val, shape: number[]): Val {
  const idx = broadcastIndex(x.shape, shape);
  const out = alloc(x.dtype, idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = x.data[idx[k] as number] as number;
  return { dtype: x.dtype, shape, data: out };
}

function unary(fn: (x: number) => number): OpFactory {
  return () => (inputs) => {
    const x = need(inputs, 0, 'X');
    floatIn(x, 'X');
    const out = alloc(x.dtype, x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = fn(x.data[i] as number);
    return [{ dtype: x.dtype, shape: x.shape, data: out }];
  };
}

function binaryArith(fn: (a: number, b: number) => number, intFn: (a: number, b: number) => number): OpFactory {
  return () => (inputs) => {
    const a = need(inputs, 0, 'A');
    const b = need(inputs, 1, 'B');
    sameDType(a, b);
    if (a.dtype === 'bool') fail('arithmetic on bool tensors is not supported');
    const f = isFloat(a) ? fn : intFn;
    const r = broadcastMap([a, b], a.dtype, (xs) => f(xs[0] as number, xs[1] as number));
    if (a.dtype === 'int32') for (let i = 0; i < r.data.length; i++) r.data[i] = (r.data[i] as number) | 0;
    return [r];
  };
}

function permute(x: Val, perm: number[]): Val {
  const rank = x.shape.length;
  const outShape = perm.map((p) => x.shape[p] as number);
  const inStr = strides(x.shape);
  const out = alloc(x.dtype, x.data.length);
  const n = out.length;
  if (n === 0) return { dtype: x.dtype, shape: outShape, data: out };
  const eff = perm.map((p) => inStr[p] as number);
  const counter = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let k = 0; k < n; k++) {
    out[k] = x.data[cur] as number;
    for (let ax = rank - 1; ax >= 0; ax--) {
      counter[ax] = (counter[ax] as number) + 1;
      cur += eff[ax] as number;
      if ((counter[ax] as number) < (outShape[ax] as number)) break;
      cur -= (eff[ax] as number) * (outShape[ax] as number);
      counter[ax] = 0;
    }
  }
  return { dtype: x.dtype, shape: outShape, data: out };
}
export { permute as transposeVal };

/** Axes from the input `index` when given, else from the attribute `axes`. */
function axesOf(ctx: OpContext, inputs: (Val | null)[], index: number): number[] | undefined {
  const v = inputs[index];
  if (v !== null && v !== undefined) return intList(v, 'axes');
  return ctx.attrs.ints('axes');
}

function normAxes(axes: number[], rank: number): number[] {
  const out = axes.map((a) => normAxis(a, rank, 'axis'));
  if (new Set(out).size !== out.length) fail(`axes ${formatDims(axes)} repeat an axis`);
  return out;
}

function reshapeView(x: Val, shape: number[]): Val {
  return { dtype: x.dtype, shape, data: x.data };
}

function softmaxLike(log: boolean): OpFactory {
  return (ctx) => {
    const legacy = ctx.opset < 13;
    const axisAttr = ctx.attrs.int('axis', legacy ? 1 : -1);
    return (inputs) => {
      const x = need(inputs, 0, 'input');
      floatIn(x, 'input');
      const rank = x.shape.length;
      const axis = normAxis(axisAttr, Math.max(rank, 1), 'axis');
      // legacy: the input is coerced to 2-D [prod(:axis), prod(axis:)]; new: along one axis
      const outer = size(x.shape.slice(0, axis));
      const len = legacy ? size(x.shape.slice(axis)) : ((x.shape[axis] ?? 1) as number);
      const inner = legacy ? 1 : size(x.shape.slice(axis + 1));
      const out = alloc(x.dtype, x.data.length);
      const d = x.data;
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          const base = o * len * inner + i;
          let m = -Infinity;
          for (let k = 0; k < len; k++) m = Math.max(m, d[base + k * inner] as number);
          let s = 0;
          for (let k = 0; k < len; k++) s += Math.exp((d[base + k * inner] as number) - m);
          for (let k = 0; k < len; k++) {
            const z = (d[base + k * inner] as number) - m;
            out[base + k * inner] = log ? z - Math.log(s) : Math.exp(z) / s;
          }
        }
      return [{ dtype: x.dtype, shape: x.shape, data: out }];
    };
  };
}

function reduce(kind: 'mean' | 'max'): OpFactory {
  return (ctx) => {
    const keepdims = ctx.attrs.int('keepdims', 1) !== 0;
    const noopEmpty = ctx.attrs.int('noop_with_empty_axes', 0) !== 0;
    const axesFromInput = (kind === 'mean' || kind === 'max') && ctx.opset >= 18;
    return (inputs) => {
      const x = need(inputs, 0, 'data');
      if (x.dtype === 'bool') fail('cannot reduce a bool tensor');
      const rank = x.shape.length;
      let axes = axesFromInput ? axesOf(ctx, inputs, 1) : ctx.attrs.ints('axes');
      if (axes === undefined || axes.length === 0) {
        if (noopEmpty) return [x];
        axes = x.shape.map((_, i) => i);
      }
      const ax = new Set(normAxes(axes, rank));
      const outShapeKeep = x.shape.map((d, i) => (ax.has(i) ? 1 : d));
      const outShape = keepdims ? outShapeKeep : x.shape.filter((_, i) => !ax.has(i));
      const n = size(outShapeKeep);
      const acc = new Float64Array(n).fill(kind === 'max' ? -Infinity : 0);
      const idx = broadcastIndex(outShapeKeep, x.shape);
      for (let k = 0; k < x.data.length; k++) {
        const j = idx[k] as number;
        const v = x.data[k] as number;
        if (kind === 'max') {
          if (v > (acc[j] as number) || Number.isNaN(v)) acc[j] = v;
        } else acc[j] = (acc[j] as number) + v;
      }
      const cnt = n === 0 ? 1 : x.data.length / n;
      const out = alloc(x.dtype, n);
      for (let j = 0; j < n; j++) {
        const v = kind === 'mean' ? (acc[j] as number) / cnt : (acc[j] as number);
        out[j] = x.dtype === 'int32' || x.dtype === 'int64' ? Math.trunc(v) : v;
      }
      return [makeVal(x.dtype, outShape, out)];
    };
  };
}

/** C[M,N] (+)= A[M,K]·B[K,N] with explicit strides, accumulated in double. */
function gemmInto(
  out: VData, outOff: number, a: VData, aOff: number, aRow: number, aCol: number,
  b: VData, bOff: number, bRow: number, bCol: number, M: number, N: number, K: number, alpha: number,
): void {
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (a[aOff + m * aRow + k * aCol] as number) * (b[bOff + k * bRow + n * bCol] as number);
      out[outOff + m * N + n] = (out[outOff + m * N + n] as number) + alpha * s;
    }
}

// ---------------------------------------------------------------------------------------------
// The operators

const castTargets = (t: number): VDType => {
  const d = fromOnnxType(t);
  if (d === undefined) fail(`Cast to ${onnxTypeName(t)} is not supported`);
  return d;
};

export const OPS: Record<string, OpFactory> = {
  Identity: () => (inputs) => [need(inputs, 0, 'input')],

  Constant: (ctx) => {
    const a = ctx.attrs;
    let v: Val | undefined = a.tensor('value');
    if (v === undefined && a.has('value_float')) v = makeVal('float32', [], Float32Array.of(a.float('value_float', 0)));
    if (v === undefined && a.has('value_floats')) {
      const f = a.floats('value_floats') as number[];
      v = makeVal('float32', [f.length], Float32Array.from(f));
    }
    if (v === undefined && a.has('value_int')) v = makeVal('int64', [], Float64Array.of(a.int('value_int', 0)));
    if (v === undefined && a.has('value_ints')) {
      const f = a.ints('value_ints') as number[];
      v = makeVal('int64', [f.length], Float64Array.from(f));
    }
    if (v === undefined) fail('Constant has no supported value attribute (value, value_float(s), value_int(s))');
    const val = v;
    return () => [val];
  },

  ConstantOfShape: (ctx) => {
    const value = ctx.attrs.tensor('value') ?? makeVal('float32', [1], new Float32Array(1));
    if (value.data.length !== 1) fail('attribute "value" must hold one element');
    return (inputs) => {
      const shape = checkShape(intList(need(inputs, 0, 'input'), 'shape'), 'the requested shape');
      const out = alloc(value.dtype, size(shape));
      out.fill(value.data[0] as number);
      return [makeVal(value.dtype, shape, out)];
    };
  },

  Shape: (ctx) => {
    const start = ctx.attrs.int('start', 0);
    const endAttr = ctx.attrs.has('end') ? ctx.attrs.int('end', 0) : undefined;
    return (inputs) => {
      const x = need(inputs, 0, 'data');
      const r = x.shape.length;
      const clampI = (i: number) => Math.min(r, Math.max(0, i < 0 ? i + r : i));
      const s = clampI(start);
      const e = endAttr === undefined ? r : clampI(endAttr);
      const dims = x.shape.slice(s, Math.max(s, e));
      return [makeVal('int64', [dims.length], Float64Array.from(dims))];
    };
  },

  Gather: (ctx) => {
    const axisAttr = ctx.attrs.int('axis', 0);
    return (inputs) => {
      const data = need(inputs, 0, 'data');
      const ind = need(inputs, 1, 'indices');
      if (!isIntLike(ind)) fail(`indices must be int64 or int32, not ${ind.dtype}`);
      const r = data.shape.length;
      if (r === 0) fail('Gather needs data of rank >= 1');
      const axis = normAxis(axisAttr, r, 'axis');
      const dim = data.shape[axis] as number;
      const outer = size(data.shape.slice(0, axis));
      const inner = size(data.shape.slice(axis + 1));
      const outShape = checkShape([...data.shape.slice(0, axis), ...ind.shape, ...data.shape.slice(axis + 1)], 'the Gather result');
      const ni = ind.data.length;
      const out = alloc(data.dtype, size(outShape));
      for (let j = 0; j < ni; j++) {
        let k = ind.data[j] as number;
        if (k < -dim || k >= dim) fail(`index ${k} is out of range for axis ${axis} of size ${dim}`);
        if (k < 0) k += dim;
        for (let o = 0; o < outer; o++) {
          const src = (o * dim + k) * inner;
          const dst = (o * ni + j) * inner;
          for (let i = 0; i < inner; i++) out[dst + i] = data.data[src + i] as number;
        }
      }
      return [makeVal(data.dtype, outShape, out)];
    };
  },

  Transpose: (ctx) => {
    const permAttr = ctx.attrs.ints('perm');
    return (inputs) => {
      const x = need(inputs, 0, 'data');
      const r = x.shape.length;
      const perm = permAttr ?? x.shape.map((_, i) => r - 1 - i);
      if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !(p >= 0 && p < r)))
        fail(`perm ${formatDims(perm)} is not a permutation of ${r} axes`);
      return [permute(x, perm)];
    };
  },

  Squeeze: (ctx) => (inputs) => {
    const x = need(inputs, 0, 'data');
    const axes = axesOf(ctx, inputs, 1);
    let drop: Set<number>;
    if (axes === undefined) drop = new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
    else {
      drop = new Set(normAxes(axes, x.shape.length));
      for (const a of drop) if (x.shape[a] !== 1) fail(`cannot squeeze axis ${a} of size ${x.shape[a]}`);
    }
    return [reshapeView(x, x.shape.filter((_, i) => !drop.has(i)))];
  },

  Unsqueeze: (ctx) => (inputs) => {
    const x = need(inputs, 0, 'data');
    const axes = axesOf(ctx, inputs, 1);
    if (axes === undefined) fail('Unsqueeze needs axes');
    const r = x.shape.length + axes.length;
    const ins = new Set(normAxes(axes, r));
    const shape: number[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) shape.push(ins.has(i) ? 1 : (x.shape[j++] as number));
    return [reshapeView(x, checkShape(shape, 'the Unsqueeze result'))];
  },

  Reshape: (ctx) => {
    const allowzero = ctx.attrs.int('allowzero', 0) !== 0;
    return (inputs) => {
      const x = need(inputs, 0, 'data');
      const req = intList(need(inputs, 1, 'shape'), 'shape');
      if (req.length > 32) fail('shape has too many dimensions');
      let infer = -1;
      let known = 1;
      const shape = req.map((d, i) => {
        if (d === 0 && !allowzero) {
          if (i >= x.shape.length) fail(`shape ${formatDims(req)} copies a dimension the input does not have`);
          d = x.shape[i] as number;
        }
        if (d === -1) {
          if (infer !== -1) fail(`shape ${formatDims(req)} has more than one -1`);
          infer = i;
          return -1;
        }
        if (!Number.isSafeInteger(d) || d < 0) fail(`shape ${formatDims(req)} has an invalid dimension`);
        known *= d;
        return d;
      });
      const n = x.data.length;
      if (infer !== -1) {
        if (known === 0 || n % known !== 0) fail(`cannot reshape ${formatDims(x.shape)} to ${formatDims(req)}`);
        shape[infer] = n / known;
      } else if (known !== n) fail(`cannot reshape ${formatDims(x.shape)} to ${formatDims(req)}`);
      return [reshapeView(x, shape)];
    };
  },

  Flatten: (ctx) => {
    const axisAttr = ctx.attrs.int('axis', 1);
    return (inputs) => {
      const x = need(inputs, 0, 'input');
      const r = x.shape.length;
      if (!(axisAttr >= -r && axisAttr <= r)) fail(`axis ${axisAttr} is out of range for rank ${r}`);
      const axis = axisAttr < 0 ? axisAttr + r : axisAttr;
      return [reshapeView(x, [size(x.shape.slice(0, axis)), size(x.shape.slice(axis))])];
    };
  },

  Slice: (ctx) => (inputs) => {
    const x = need(inputs, 0, 'data');
    const r = x.shape.length;
    let starts: number[];
    let ends: number[];
    let axes: number[] | undefined;
    let steps: number[] | undefined;
    if (ctx.opset < 10) {
      starts = ctx.attrs.ints('starts') ?? fail('Slice needs starts');
      ends = ctx.attrs.ints('ends') ?? fail('Slice needs ends');
      axes = ctx.attrs.ints('axes');
    } else {
      starts = intList(need(inputs, 1, 'starts'), 'starts');
      ends = intList(need(inputs, 2, 'ends'), 'ends');
      axes = inputs[3] ? intList(inputs[3], 'axes') : undefined;
      steps = inputs[4] ? intList(inputs[4], 'steps') : undefined;
    }
    const ax = normAxes(axes ?? starts.map((_, i) => i), r);
    if (starts.length !== ax.length || ends.length !== ax.length || (steps && steps.length !== ax.length))
      fail('starts, ends, axes and steps must have the same length');
    const begin = x.shape.map(() => 0);
    const step = x.shape.map(() => 1);
    const outShape = [...x.shape];
    ax.forEach((a, i) => {
      const dim = x.shape[a] as number;
      const st = steps ? (steps[i] as number) : 1;
      if (st === 0) fail('Slice step must not be 0');
      let s = starts[i] as number;
      let e = ends[i] as number;
      if (s < 0) s += dim;
      if (e < 0) e += dim;
      if (st > 0) {
        s = Math.min(Math.max(s, 0), dim);
        e = Math.min(Math.max(e, 0), dim);
        outShape[a] = Math.max(0, Math.ceil((e - s) / st));
      } else {
        s = Math.min(Math.max(s, -1), dim - 1);
        e = Math.min(Math.max(e, -1), dim - 1);
        outShape[a] = Math.max(0, Math.ceil((s - e) / -st));
      }
      begin[a] = s;
      step[a] = st;
    });
    const n = size(outShape);
    const out = alloc(x.dtype, n);
    const inStr = strides(x.shape);
    const counter = new Array<number>(r).fill(0);
    for (let k = 0; k < n; k++) {
      let off = 0;
      for (let d = 0; d < r; d++) off += ((begin[d] as number) + (counter[d] as number) * (step[d] as number)) * (inStr[d] as number);
      out[k] = x.data[off] as number;
      for (let d = r - 1; d >= 0; d--) {
        counter[d] = (counter[d] as number) + 1;
        if ((counter[d] as number) < (outShape[d] as number)) break;
        counter[d] = 0;
      }
    }
    return [makeVal(x.dtype, outShape, out)];
  },

  Concat: (ctx) => {
    const axisAttr = ctx.attrs.int('axis', Number.NaN);
    if (Number.isNaN(axisAttr)) fail('Concat needs the attribute axis');
    return (inputs) => {
      const xs = inputs.filter((v): v is Val => v !== null);
      if (xs.length === 0) fail('Concat needs at least one input');
      const first = xs[0] as Val;
      const r = first.shape.length;
      const axis = normAxis(axisAttr, r, 'axis');
      let total = 0;
      for (const v of xs) {
        sameDType(first, v);
        if (v.shape.length !== r || v.shape.some((d, i) => i !== axis && d !== first.shape[i]))
          fail(`cannot concatenate ${formatDims(first.shape)} and ${formatDims(v.shape)} along axis ${axis}`);
        total += v.shape[axis] as number;
      }
      const outShape = checkShape(first.shape.map((d, i) => (i === axis ? total : d)), 'the Concat result');
      const outer = size(first.shape.slice(0, axis));
      const inner = size(first.shape.slice(axis + 1));
      const out = alloc(first.dtype, size(outShape));
      let pos = 0;
      for (const v of xs) {
        const len = (v.shape[axis] as number) * inner;
        for (let o = 0; o < outer; o++)
          for (let i = 0; i < len; i++) out[o * total * inner + pos + i] = v.data[o * len + i] as number;
        pos += len;
      }
      return [makeVal(first.dtype, outShape, out)];
    };
  },

  Cast: (ctx) => {
    const to = castTargets(ctx.attrs.int('to', 0));
    return (inputs) => [cast(need(inputs, 0, 'input'), to)];
  },

  Expand: () => (inputs) => {
    const x = need(inputs, 0, 'input');
    const req = intList(need(inputs, 1, 'shape'), 'shape');
    if (req.some((d) => d < 0)) fail(`shape ${formatDims(req)} has a negative dimension`);
    const shape = broadcastShapes([x.shape, checkShape(req, 'the Expand shape')]);
    return [broadcastTo(x, shape)];
  },

  Gemm: (ctx) => {
    const alpha = ctx.attrs.float('alpha', 1);
    const beta = ctx.attrs.float('beta', 1);
    const transA = ctx.attrs.int('transA', 0) !== 0;
    const transB = ctx.attrs.int('transB', 0) !== 0;
    return (inputs) => {
      const a = need(inputs, 0, 'A');
      const b = need(inputs, 1, 'B');
      const c = inputs[2] ?? null;
      floatIn(a, 'A');
      sameDType(a, b);
      if (a.shape.length !== 2 || b.shape.length !== 2) fail(`Gemm needs 2-D A and B, got ${formatDims(a.shape)} and ${formatDims(b.shape)}`);
      const [a0, a1] = a.shape as [number, number];
      const [b0, b1] = b.shape as [number, number];
      const M = transA ? a1 : a0;
      const K = transA ? a0 : a1;
      const Kb = transB ? b1 : b0;
      const N = transB ? b0 : b1;
      if (K !== Kb) fail(`Gemm inner dimensions differ (${formatDims(a.shape)}, ${formatDims(b.shape)})`);
      let out: VData;
      if (c !== null) {
        sameDType(a, c);
        if (broadcastShapes([c.shape, [M, N]]).some((d, i) => d !== [M, N][i]))
          fail(`C of shape ${formatDims(c.shape)} does not broadcast to [${M}, ${N}]`);
        out = broadcastTo(c, [M, N]).data;
        for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * beta;
      } else out = alloc(a.dtype, M * N);
      gemmInto(out, 0, a.data, 0, transA ? 1 : a1, transA ? a1 : 1, b.data, 0, transB ? 1 : b1, transB ? b1 : 1, M, N, K, alpha);
      return [makeVal(a.dtype, [M, N], out)];
    };
  },

  MatMul: () => (inputs) => {
    const a0 = need(inputs, 0, 'A');
    const b0 = need(inputs, 1, 'B');
    floatIn(a0, 'A');
    sameDType(a0, b0);
    if (a0.shape.length === 0 || b0.shape.length === 0) fail('MatMul needs inputs of rank >= 1');
    const a = a0.shape.length === 1 ? reshapeView(a0, [1, a0.shape[0] as number]) : a0;
    const b = b0.shape.length === 1 ? reshapeView(b0, [b0.shape[0] as number, 1]) : b0;
    const M = a.shape[a.shape.length - 2] as number;
    const K = a.shape[a.shape.length - 1] as number;
    const Kb = b.shape[b.shape.length - 2] as number;
    const N = b.shape[b.shape.length - 1] as number;
    if (K !== Kb) fail(`MatMul inner dimensions differ (${formatDims(a0.shape)}, ${formatDims(b0.shape)})`);
    const batch = broadcastShapes([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
    const nb = size(batch);
    const ia = broadcastIndex(a.shape.slice(0, -2), batch);
    const ib = broadcastIndex(b.shape.slice(0, -2), batch);
    const outShape = checkShape([...batch, M, N], 'the MatMul result');
    const out = alloc(a.dtype, size(outShape));
    for (let q = 0; q < nb; q++)
      gemmInto(out, q * M * N, a.data, (ia[q] as number) * M * K, K, 1, b.data, (ib[q] as number) * K * N, N, 1, M, N, K, 1);
    let shape = outShape;
    if (a0.shape.length === 1) shape = shape.filter((_, i) => i !== shape.length - 2);
    if (b0.shape.length === 1) shape = shape.slice(0, -1);
    return [makeVal(a.dtype, shape, out)];
  },

  Add: binaryArith((a, b) => a + b, (a, b) => a + b),
  Sub: binaryArith((a, b) => a - b, (a, b) => a - b),
  Mul: binaryArith((a, b) => a * b, (a, b) => a * b),
  Div: binaryArith((a, b) => a / b, (a, b) => (b === 0 ? fail('integer division by zero') : Math.trunc(a / b))),
  Relu: unary((x) => (x > 0 ? x : 0)),
  Tanh: unary(Math.tanh),
  Sigmoid: unary((x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)))),
  Softmax: softmaxLike(false),
  LogSoftmax: softmaxLike(true),
  ReduceMean: reduce('mean'),
  ReduceMax: reduce('max'),

  Where: () => (inputs) => {
    const c = need(inputs, 0, 'condition');
    const x = need(inputs, 1, 'X');
    const y = need(inputs, 2, 'Y');
    if (c.dtype !== 'bool') fail(`condition must be bool, not ${c.dtype}`);
    sameDType(x, y);
    return [broadcastMap([c, x, y], x.dtype, (v) => (v[0] ? (v[1] as number) : (v[2] as number)))];
  },

  Equal: () => (inputs) => {
    const a = need(inputs, 0, 'A');
    const b = need(inputs, 1, 'B');
    sameDType(a, b);
    return [broadcastMap([a, b], 'bool', (v) => (v[0] === v[1] ? 1 : 0))];
  },
};
