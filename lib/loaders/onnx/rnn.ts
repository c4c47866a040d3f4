/**
 * ONNX LSTM / GRU / RNN nodes on rnnx's native recurrent layers.
 *
 * Weights (W, R, B, P) must be constants: they are converted once, at load, from ONNX's gate
 * order (LSTM i,o,f,c; GRU z,r,h) to PyTorch's (LSTM i,f,g,o; GRU r,z,n) and held in a cached
 * layer. A bidirectional node whose two directions share their activations runs as one
 * bidirectional layer; otherwise each direction is its own forward layer, and the reverse one is
 * fed each sequence reversed within its own length.
 */
import { Tensor } from '../../tensor.js';
import { LSTM } from '../../layers/LSTM.js';
import { GRU } from '../../layers/GRU.js';
import { RNN } from '../../layers/RNN.js';
import type { Recurrent } from '../../layers/Recurrent.js';
import type { ActivationSpec } from '../../layers/activations.js';
import type { Kernel, OpContext } from './ops.js';
import { type Val, alloc, fail, formatDims, intList, makeVal } from './values.js';

type Cell = 'LSTM' | 'GRU' | 'RNN';

const GATES: Record<Cell, number> = { LSTM: 4, GRU: 3, RNN: 1 };
/** New block k takes ONNX block PERM[k]. */
const PERM: Record<Cell, number[]> = { LSTM: [0, 2, 3, 1], GRU: [1, 0, 2], RNN: [0] };
const DEFAULT_ACTS: Record<Cell, string[]> = { LSTM: ['Sigmoid', 'Tanh', 'Tanh'], GRU: ['Sigmoid', 'Tanh'], RNN: ['Tanh'] };

/** ONNX activation name → rnnx name and how many of alpha / beta it takes (onnxruntime's rule). */
const ACTS: Record<string, [ActivationSpec & string, number, number]> = {
  sigmoid: ['sigmoid', 0, 0],
  tanh: ['tanh', 0, 0],
  relu: ['relu', 0, 0],
  affine: ['affine', 1, 1],
  leakyrelu: ['leaky_relu', 1, 0],
  thresholdedrelu: ['thresholded_relu', 1, 0],
  scaledtanh: ['scaled_tanh', 1, 1],
  hardsigmoid: ['hard_sigmoid', 1, 1],
  elu: ['elu', 1, 0],
  softsign: ['softsign', 0, 0],
  softplus: ['softplus', 0, 0],
};

interface ActSpec {
  name: string;
  alpha?: number;
  beta?: number;
}

/** Layers to keep alive (and dispose) for the model. */
export interface LayerSink {
  add(layer: Recurrent): void;
}

function constInput(ctx: OpContext, i: number, what: string): Val | null {
  const name = ctx.node.input[i];
  if (name === undefined || name === '') return null;
  const v = ctx.consts.get(name);
  if (v === undefined) fail(`${what} ("${name}") must be an initializer or a Constant; rnnx builds the layer at load`);
  return v;
}

function blockRows(src: Float32Array | Float64Array, dst: Float32Array | Float64Array, base: number, H: number, cols: number, perm: number[]): void {
  // src rows [G*H, cols] at `base` → dst [G*H, cols] with blocks permuted
  for (let k = 0; k < perm.length; k++) {
    const from = base + (perm[k] as number) * H * cols;
    dst.set(src.subarray(from, from + H * cols), k * H * cols);
  }
}

export function recurrentOp(cell: Cell, sink: LayerSink): (ctx: OpContext) => Kernel {
  return (ctx) => {
    const a = ctx.attrs;
    const G = GATES[cell];
    const direction = a.string('direction', 'forward');
    if (direction !== 'forward' && direction !== 'reverse' && direction !== 'bidirectional')
      fail(`direction "${direction}" is not forward, reverse or bidirectional`);
    const nd = direction === 'bidirectional' ? 2 : 1;
    const layout = a.int('layout', 0);
    if (layout !== 0 && layout !== 1) fail(`layout ${layout} is not 0 or 1`);
    const clip = a.has('clip') ? a.float('clip', 0) : 0;
    if (!(Number.isFinite(clip) && clip >= 0)) fail(`clip ${clip} must be a finite number >= 0`);
    const inputForget = cell === 'LSTM' && a.int('input_forget', 0) !== 0;
    const lbr = cell === 'GRU' ? a.int('linear_before_reset', 0) !== 0 : true;

    const W = constInput(ctx, 1, 'W');
    const R = constInput(ctx, 2, 'R');
    if (W === null || R === null) fail('W and R are required');
    const B = constInput(ctx, 3, 'B');
    const P = cell === 'LSTM' ? constInput(ctx, 7, 'P') : null;
    if (W.dtype !== 'float32' && W.dtype !== 'float64') fail(`W must be float or double, not ${W.dtype}`);
    for (const [v, n] of [[R, 'R'], [B, 'B'], [P, 'P']] as const)
      if (v !== null && v.dtype !== W.dtype) fail(`${n} has type ${v.dtype}, W has ${W.dtype}`);
    if (W.shape.length !== 3 || W.shape[0] !== nd || (W.shape[1] as number) % G !== 0 || (W.shape[1] as number) === 0 || W.shape[2] === 0)
      fail(`W has shape ${formatDims(W.shape)}; expected [${nd}, ${G}*hidden_size, input_size] for ${cell} with direction ${direction}`);
    const H = (W.shape[1] as number) / G;
    const I = W.shape[2] as number;
    if (a.has('hidden_size') && a.int('hidden_size', 0) !== H)
      fail(`hidden_size ${a.int('hidden_size', 0)} does not match W of shape ${formatDims(W.shape)} (${G} gates of ${H})`);
    if (R.shape.length !== 3 || R.shape[0] !== nd || R.shape[1] !== G * H || R.shape[2] !== H)
      fail(`R has shape ${formatDims(R.shape)}; expected [${nd}, ${G * H}, ${H}]`);
    if (B !== null && (B.shape.length !== 2 || B.shape[0] !== nd || B.shape[1] !== 2 * G * H))
      fail(`B has shape ${formatDims(B.shape)}; expected [${nd}, ${2 * G * H}]`);
    if (P !== null) {
      if (P.shape.length !== 2 || P.shape[0] !== nd || P.shape[1] !== 3 * H)
        fail(`P has shape ${formatDims(P.shape)}; expected [${nd}, ${3 * H}]`);
      for (let i = 0; i < P.data.length; i++) if (!Number.isFinite(P.data[i] as number)) fail('P holds a non-finite value');
    }
    const peepholes = P !== null;
    for (const [v, n] of [[W, 'W'], [R, 'R'], [B, 'B']] as const)
      if (v !== null) for (let i = 0; i < v.data.length; i++) if (!Number.isFinite(v.data[i] as number)) fail(`${n} holds a non-finite value`);

    // activations
    const nAct = DEFAULT_ACTS[cell].length;
    const names = a.strings('activations') ?? (nd === 2 ? [...DEFAULT_ACTS[cell], ...DEFAULT_ACTS[cell]] : DEFAULT_ACTS[cell]);
    let actNames = names;
    if (actNames.length === nAct && nd === 2) actNames = [...names, ...names];
    if (actNames.length !== nAct * nd) fail(`activations lists ${names.length} functions; ${cell} needs ${nAct} per direction (${nAct * nd})`);
    const alphas = a.floats('activation_alpha') ?? [];
    const betas = a.floats('activation_beta') ?? [];
    let ai = 0;
    let bi = 0;
    const specs: ActSpec[] = actNames.map((n) => {
      const e = ACTS[n.toLowerCase()];
      if (e === undefined) fail(`activation "${n}" is not one of ONNX's RNN activations`);
      const s: ActSpec = { name: e[0] };
      if (e[1] && ai < alphas.length) s.alpha = alphas[ai++];
      if (e[2] && bi < betas.length) s.beta = betas[bi++];
      for (const v of [s.alpha, s.beta]) if (v !== undefined && !Number.isFinite(v)) fail('activation_alpha/beta must be finite');
      return s;
    });
    const dirActs = [specs.slice(0, nAct), specs.slice(nAct)];
    const sameActs = nd === 2 && JSON.stringify(dirActs[0]) === JSON.stringify(dirActs[1]);

    const isF64 = W.dtype === 'float64';
    const mk = (n: number) => (isF64 ? new Float64Array(n) : new Float32Array(n));
    const perm = PERM[cell];
    const dirWeights = (d: number) => {
      const wih = mk(G * H * I);
      const whh = mk(G * H * H);
      blockRows(W.data as Float32Array, wih, d * G * H * I, H, I, perm);
      blockRows(R.data as Float32Array, whh, d * G * H * H, H, H, perm);
      const out: Record<string, Tensor> = {
        w: new Tensor(wih, [G * H, I]),
        r: new Tensor(whh, [G * H, H]),
      };
      if (B !== null) {
        const bih = mk(G * H);
        const bhh = mk(G * H);
        blockRows(B.data as Float32Array, bih, d * 2 * G * H, H, 1, perm);
        blockRows(B.data as Float32Array, bhh, d * 2 * G * H + G * H, H, 1, perm);
        out.bi = new Tensor(bih, [G * H]);
        out.bh = new Tensor(bhh, [G * H]);
      }
      return out;
    };
    const build = (dirs: number[], acts: ActSpec[], batchFirst: boolean): Recurrent => {
      const sd: Record<string, Tensor> = {};
      dirs.forEach((d, k) => {
        const sfx = k === 1 ? '_reverse' : '';
        const w = dirWeights(d);
        sd[`weight_ih_l0${sfx}`] = w.w as Tensor;
        sd[`weight_hh_l0${sfx}`] = w.r as Tensor;
        if (w.bi) sd[`bias_ih_l0${sfx}`] = w.bi;
        if (w.bh) sd[`bias_hh_l0${sfx}`] = w.bh;
        if (peepholes && P !== null) {
          // ONNX P is [i, o, f]; rnnx's weight_p is [i, f, o]
          const p = mk(3 * H);
          const src = P.data as Float32Array;
          const base = d * 3 * H;
          p.set(src.subarray(base, base + H), 0);
          p.set(src.subarray(base + 2 * H, base + 3 * H), H);
          p.set(src.subarray(base + H, base + 2 * H), 2 * H);
          sd[`weight_p_l0${sfx}`] = new Tensor(p, [3 * H]);
        }
      });
      const opts = {
        inputSize: I,
        hiddenSize: H,
        numLayers: 1,
        bidirectional: dirs.length === 2,
        batchFirst,
        bias: B !== null,
        clip,
        dtype: isF64 ? ('float64' as const) : ('float32' as const),
      };
      let layer: Recurrent;
      try {
        if (cell === 'LSTM')
          layer = LSTM.fromStateDict(sd, {
            ...opts,
            peepholes,
            inputForget,
            activations: acts as [ActivationSpec, ActivationSpec, ActivationSpec],
          });
        else if (cell === 'GRU') layer = GRU.fromStateDict(sd, { ...opts, linearBeforeReset: lbr, activations: acts as [ActivationSpec, ActivationSpec] });
        else layer = RNN.fromStateDict(sd, { ...opts, activations: acts as [ActivationSpec] });
      } catch (e) {
        fail(`cannot build the ${cell} layer: ${e instanceof Error ? e.message : String(e)}`);
      }
      sink.add(layer);
      return layer;
    };

    // Plans: one bidirectional layer, or one forward layer per direction (reverse fed reversed).
    type Part = { layer: Recurrent; dirs: number[]; reversed: boolean };
    const parts: Part[] = [];
    if (nd === 2 && sameActs) parts.push({ layer: build([0, 1], dirActs[0] as ActSpec[], false), dirs: [0, 1], reversed: false });
    else
      for (let d = 0; d < nd; d++)
        parts.push({
          layer: build([d], dirActs[d] as ActSpec[], false),
          dirs: [d],
          reversed: direction === 'reverse' || d === 1,
        });
    const dtype = W.dtype;

    return async (inputs) => {
      const X = inputs[0];
      if (!X) fail('input X is missing');
      if (X.dtype !== dtype) fail(`X has type ${X.dtype}, the weights ${dtype}`);
      if (X.shape.length !== 3 || X.shape[2] !== I)
        fail(`X has shape ${formatDims(X.shape)}; expected ${layout ? '[batch, seq, ' : '[seq, batch, '}${I}]`);
      const T = (layout ? X.shape[1] : X.shape[0]) as number;
      const Bn = (layout ? X.shape[0] : X.shape[1]) as number;
      if (T < 1 || Bn < 1) fail(`X has shape ${formatDims(X.shape)}; rnnx needs at least one step and one sequence`);
      // sequence lengths (0 allowed: run 1 step, then zero that sequence's outputs and states)
      const lens = new Int32Array(Bn).fill(T);
      let zeroLen: number[] = [];
      let hasLens = false;
      const sl = inputs[4];
      if (sl) {
        const v = intList(sl, 'sequence_lens');
        if (v.length !== Bn) fail(`sequence_lens has ${v.length} values for a batch of ${Bn}`);
        v.forEach((n, b) => {
          if (!(Number.isInteger(n) && n >= 0 && n <= T)) fail(`sequence_lens[${b}] = ${n} is not in 0..${T}`);
          if (n === 0) zeroLen.push(b);
          lens[b] = Math.max(1, n);
        });
        hasLens = true;
      }
      zeroLen = [...new Set(zeroLen)];
      // x as [T, B, I]
      const xt = layout ? transpose3(X, [1, 0, 2]) : X;
      const state = (v: Val | null | undefined, what: string): Val | null => {
        if (!v) return null;
        if (v.dtype !== dtype) fail(`${what} has type ${v.dtype}, the weights ${dtype}`);
        const want = layout ? [Bn, nd, H] : [nd, Bn, H];
        if (v.shape.length !== 3 || v.shape.some((d, i) => d !== want[i]))
          fail(`${what} has shape ${formatDims(v.shape)}; expected ${formatDims(want)}`);
        return layout ? transpose3(v, [1, 0, 2]) : v; // [nd, B, H]
      };
      const h0 = state(inputs[5], 'initial_h');
      const c0 = cell === 'LSTM' ? state(inputs[6], 'initial_c') : null;

      const Y = makeVal(dtype, [T, nd, Bn, H]); // layout 0 form first
      const Yh = makeVal(dtype, [nd, Bn, H]);
      const Yc = makeVal(dtype, [nd, Bn, H]);
      const BH = Bn * H;
      for (const part of parts) {
        const D = part.dirs.length;
        const d0 = part.dirs[0] as number;
        const sub = (v: Val | null): Tensor | undefined =>
          v === null ? undefined : new Tensor(v.data.slice(d0 * BH, (d0 + D) * BH) as Float32Array, [D, Bn, H]);
        let x = xt;
        if (part.reversed) x = reverseSeq(xt, lens);
        const r = await part.layer.forwardAsync(new Tensor(x.data as Float32Array, [T, Bn, I]), {
          h0: sub(h0),
          c0: sub(c0),
          lengths: hasLens || part.reversed ? lens : undefined,
        });
        let out: Val = { dtype, shape: [T, Bn, D * H], data: r.output.data };
        if (part.reversed) out = reverseSeq(out, lens);
        // out [T, B, D, H] → Y[t, d0 + k, b, :]
        const od = out.data;
        const yd = Y.data;
        for (let t = 0; t < T; t++)
          for (let b = 0; b < Bn; b++)
            for (let k = 0; k < D; k++) {
              const src = ((t * Bn + b) * D + k) * H;
              const dst = ((t * nd + d0 + k) * Bn + b) * H;
              for (let j = 0; j < H; j++) yd[dst + j] = od[src + j] as number;
            }
        Yh.data.set(r.h.data, d0 * BH);
        if (r.c) Yc.data.set(r.c.data, d0 * BH);
      }
      for (const b of zeroLen) {
        for (let t = 0; t < T; t++) for (let d = 0; d < nd; d++) Y.data.fill(0, ((t * nd + d) * Bn + b) * H, ((t * nd + d) * Bn + b + 1) * H);
        for (let d = 0; d < nd; d++) {
          Yh.data.fill(0, (d * Bn + b) * H, (d * Bn + b + 1) * H);
          Yc.data.fill(0, (d * Bn + b) * H, (d * Bn + b + 1) * H);
        }
      }
      const outs = layout
        ? [transpose4(Y, [2, 0, 1, 3]), transpose3(Yh, [1, 0, 2]), transpose3(Yc, [1, 0, 2])]
        : [Y, Yh, Yc];
      return cell === 'LSTM' ? outs : outs.slice(0, 2);
    };
  };
}

/** Reverses each sequence b of a [T, B, F] value within its first lens[b] steps (the rest unchanged). */
function reverseSeq(v: Val, lens: Int32Array): Val {
  const [T, B, F] = v.shape as [number, number, number];
  const out = alloc(v.dtype, v.data.length);
  out.set(v.data as Float32Array);
  for (let b = 0; b < B; b++) {
    const L = lens[b] as number;
    for (let t = 0; t < L && t < T; t++) {
      const src = ((L - 1 - t) * B + b) * F;
      const dst = (t * B + b) * F;
      for (let f = 0; f < F; f++) out[dst + f] = v.data[src + f] as number;
    }
  }
  return { dtype: v.dtype, shape: v.shape, data: out };
}

function transposeN(v: Val, perm: number[]): Val {
  const shape = perm.map((p) => v.shape[p] as number);
  const st: number[] = [];
  let acc = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= v.shape[i] as number;
  }
  const out = alloc(v.dtype, v.data.length);
  const eff = perm.map((p) => st[p] as number);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < out.length; k++) {
    let off = 0;
    for (let i = 0; i < shape.length; i++) off += (idx[i] as number) * (eff[i] as number);
    out[k] = v.data[off] as number;
    for (let i = shape.length - 1; i >= 0; i--) {
      idx[i] = (idx[i] as number) + 1;
      if ((idx[i] as number) < (shape[i] as number)) break;
      idx[i] = 0;
    }
  }
  return { dtype: v.dtype, shape, data: out };
}
const transpose3 = transposeN;
const transpose4 = transposeN;
