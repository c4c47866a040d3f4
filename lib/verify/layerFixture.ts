/**
 * Runs one layer fixture (../shared/fixtures/layers/*.safetensors, format in its README): a
 * PyTorch RNN / LSTM / GRU with weights, inputs, float64 expectations and gradients of
 * loss = sum(output*g_output) + sum(h_n*g_h_n) [+ sum(c_n*g_c_n)].
 */
import { ModelFormatError } from '../errors.js';
import { Tensor } from '../tensor.js';
import {
  type SafetensorsEntry,
  entryToFloat32,
  entryToFloat64,
  entryToInt32,
  readSafetensorsSync,
} from '../io/safetensors.js';
import { LSTM } from '../layers/LSTM.js';
import { GRU } from '../layers/GRU.js';
import { RNN } from '../layers/RNN.js';
import type { Recurrent, Tape } from '../layers/Recurrent.js';
import { relErr } from './relErr.js';

export interface FixtureResult {
  fixture: string;
  ok: boolean;
  forward_rel_err: number | null;
  grad_rel_err: number | null;
  details?: Record<string, number>;
  error?: string;
}

export const FORWARD_TOL = 1e-5;
export const GRAD_TOL = 1e-4;

function meta(m: Record<string, string>, key: string, file: string): unknown {
  const raw = m[key];
  if (raw === undefined) throw new ModelFormatError(file, `__metadata__ lacks "${key}"`);
  try {
    return JSON.parse(raw);
  } catch {
    return raw; // plain (not JSON-encoded) strings are accepted too
  }
}

function int(m: Record<string, string>, key: string, file: string, dflt?: number): number {
  if (m[key] === undefined && dflt !== undefined) return dflt;
  const v = meta(m, key, file);
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw new ModelFormatError(file, `__metadata__.${key} must be a non-negative integer`);
  return n;
}

function flag(m: Record<string, string>, key: string, file: string, dflt: boolean): boolean {
  if (m[key] === undefined) return dflt;
  const v = meta(m, key, file);
  if (v === true || v === 'true' || v === 1) return true;
  if (v === false || v === 'false' || v === 0) return false;
  throw new ModelFormatError(file, `__metadata__.${key} must be a boolean`);
}

export function runLayerFixture(path: string, dtype: 'float32' | 'float64' = 'float32'): FixtureResult {
  const name = path.replace(/^.*\//, '').replace(/\.safetensors$/, '');
  const f = readSafetensorsSync(path);
  const m = f.metadata;
  const cell = meta(m, 'cell', path);
  if (cell !== 'lstm' && cell !== 'gru' && cell !== 'rnn')
    throw new ModelFormatError(path, `__metadata__.cell must be "rnn", "lstm" or "gru"`);
  const get = (key: string): SafetensorsEntry | undefined => f.tensors.get(key);
  const need = (key: string): SafetensorsEntry => {
    const e = get(key);
    if (!e) throw new ModelFormatError(path, `missing tensor "${key}"`);
    return e;
  };
  const conv = (e: SafetensorsEntry) => (dtype === 'float64' ? entryToFloat64(e) : entryToFloat32(e));
  const tensor = (e: SafetensorsEntry) => new Tensor(conv(e), e.shape);

  const opts = {
    inputSize: int(m, 'input_size', path),
    hiddenSize: int(m, 'hidden_size', path),
    numLayers: int(m, 'num_layers', path, 1),
    bidirectional: flag(m, 'bidirectional', path, false),
    batchFirst: flag(m, 'batch_first', path, false),
    bias: flag(m, 'bias', path, true),
    dtype,
  };
  const weightNames = [...f.tensors.keys()].filter((k) => /^(weight|bias)_/.test(k));
  const sd: Record<string, Tensor> = {};
  for (const k of weightNames) sd[k] = tensor(need(k));

  let layer: Recurrent;
  if (cell === 'lstm') layer = LSTM.fromStateDict(sd, { ...opts, projSize: int(m, 'proj_size', path, 0) });
  else if (cell === 'gru') layer = GRU.fromStateDict(sd, opts);
  else {
    const nl = m.nonlinearity === undefined ? 'tanh' : meta(m, 'nonlinearity', path);
    if (nl !== 'tanh' && nl !== 'relu' && nl !== null)
      throw new ModelFormatError(path, '__metadata__.nonlinearity must be "tanh" or "relu"');
    layer = RNN.fromStateDict(sd, { ...opts, nonlinearity: nl === 'relu' ? 'relu' : 'tanh' });
  }
  try {
    const x = tensor(need('input'));
    const h0e = get('h0');
    const c0e = get('c0');
    const le = get('lengths');
    const tape = layer.forward(x, {
      h0: h0e ? tensor(h0e) : undefined,
      c0: c0e && cell === 'lstm' ? tensor(c0e) : undefined,
      lengths: le ? entryToInt32(le) : undefined,
      requiresGrad: true,
    }) as Tape;

    const details: Record<string, number> = {};
    const cmp = (got: ArrayLike<number>, key: string): number => {
      const e = need(key);
      const err = relErr(got, entryToFloat64(e));
      details[key] = err;
      return err;
    };
    let fwd = cmp(tape.output.data, 'expected.output');
    if (get('expected.h_n')) fwd = Math.max(fwd, cmp(tape.h.data, 'expected.h_n'));
    if (get('expected.c_n') && tape.c) fwd = Math.max(fwd, cmp(tape.c.data, 'expected.c_n'));

    let grad: number | null = null;
    const gradKeys = [...f.tensors.keys()].filter((k) => k.startsWith('expected.grad.'));
    if (gradKeys.length > 0) {
      const go = get('g_output');
      const gh = get('g_h_n');
      const gc = get('g_c_n');
      const g = tape.backward({
        output: go ? tensor(go) : undefined,
        h: gh ? tensor(gh) : undefined,
        c: gc && cell === 'lstm' ? tensor(gc) : undefined,
      });
      grad = 0;
      for (const k of gradKeys) {
        const what = k.slice('expected.grad.'.length);
        let got: ArrayLike<number> | undefined;
        if (what === 'input') got = g.input.data;
        else if (what === 'h0') got = g.h0.data;
        else if (what === 'c0') got = g.c0?.data;
        else got = g.weights[what]?.data;
        if (!got) throw new ModelFormatError(path, `"${k}" names no gradient of this layer`);
        grad = Math.max(grad, cmp(got, k));
      }
    } else {
      tape.dispose();
    }
    const ok = fwd <= FORWARD_TOL && (grad === null || grad <= GRAD_TOL);
    return { fixture: name, ok, forward_rel_err: fwd, grad_rel_err: grad, details };
  } finally {
    layer.dispose();
  }
}
