/**
 * The small amount of math the tfjs loader does in TypeScript (the recurrences run natively):
 * activations as Keras / tfjs define them, and the dense layer.
 */
import { ModelFormatError } from '../../errors.js';
import type { ActivationSpec } from '../../layers/activations.js';
import { isPlainObject } from '../../validate.js';

export type ActName =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'sigmoid'
  | 'hard_sigmoid'
  | 'tanh'
  | 'softmax'
  | 'log_softmax'
  | 'softplus'
  | 'softsign'
  | 'elu'
  | 'selu'
  | 'swish'
  | 'exponential'
  | 'mish'
  | 'leaky_relu'
  | 'hard_swish';

const ALIASES: Record<string, ActName> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  hard_sigmoid: 'hard_sigmoid',
  hardsigmoid: 'hard_sigmoid',
  tanh: 'tanh',
  softmax: 'softmax',
  log_softmax: 'log_softmax',
  logsoftmax: 'log_softmax',
  softplus: 'softplus',
  softsign: 'softsign',
  elu: 'elu',
  selu: 'selu',
  swish: 'swish',
  silu: 'swish',
  exponential: 'exponential',
  mish: 'mish',
  leaky_relu: 'leaky_relu',
  leakyrelu: 'leaky_relu',
  hard_swish: 'hard_swish',
  hard_silu: 'hard_swish',
};

/** A resolved activation: name plus hard_sigmoid's slope (0.2 in tfjs/Keras 2, 1/6 in Keras 3). */
export interface Act {
  name: ActName;
  hardSlope: number;
}

/** Reads an activation from a layer config value (a string, null = linear, or a Keras 3 object). */
export function parseActivation(file: string, v: unknown, where: string, keras3: boolean, dflt: ActName): Act {
  let raw: unknown = v;
  if (raw === undefined) raw = dflt;
  if (raw === null) raw = 'linear';
  if (isPlainObject(raw)) raw = typeof raw.config === 'string' ? raw.config : (raw.registered_name ?? raw.class_name);
  if (typeof raw !== 'string') throw new ModelFormatError(file, `${where} must name an activation`);
  const norm = raw.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const name = ALIASES[norm];
  if (name === undefined) throw new ModelFormatError(file, `${where}: unsupported activation ${JSON.stringify(raw)}`);
  return { name, hardSlope: keras3 ? 1 / 6 : 0.2 };
}

/** The rnnx recurrent-layer spec of an activation. */
export function toRecurrentSpec(file: string, a: Act, where: string): ActivationSpec {
  switch (a.name) {
    case 'sigmoid':
    case 'tanh':
    case 'relu':
    case 'softsign':
    case 'softplus':
      return a.name;
    case 'hard_sigmoid':
      return { name: 'hard_sigmoid', alpha: a.hardSlope, beta: 0.5 };
    case 'linear':
      return { name: 'affine', alpha: 1, beta: 0 };
    case 'elu':
      return { name: 'elu', alpha: 1 };
    case 'leaky_relu':
      return { name: 'leaky_relu', alpha: 0.2 };
    default:
      throw new ModelFormatError(file, `${where}: activation "${a.name}" is not supported inside a recurrent cell`);
  }
}

const SELU_A = 1.6732632423543772;
const SELU_S = 1.0507009873554805;

/** Applies `a` in place over rows of width `width` (softmax along the last axis). */
export function applyActivation(a: Act, y: Float32Array, width: number): void {
  const n = y.length;
  switch (a.name) {
    case 'linear':
      return;
    case 'softmax':
    case 'log_softmax':
      for (let r = 0; r + width <= n; r += width) {
        let m = -Infinity;
        for (let j = 0; j < width; j++) m = Math.max(m, y[r + j] as number);
        let s = 0;
        for (let j = 0; j < width; j++) s += Math.exp((y[r + j] as number) - m);
        if (a.name === 'softmax') for (let j = 0; j < width; j++) y[r + j] = Math.exp((y[r + j] as number) - m) / s;
        else {
          const ls = Math.log(s) + m;
          for (let j = 0; j < width; j++) y[r + j] = (y[r + j] as number) - ls;
        }
      }
      return;
    default:
      break;
  }
  const f = scalarActivation(a);
  for (let i = 0; i < n; i++) y[i] = f(y[i] as number);
}

function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

function scalarActivation(a: Act): (x: number) => number {
  switch (a.name) {
    case 'relu':
      return (x) => (x > 0 ? x : 0);
    case 'relu6':
      return (x) => Math.min(Math.max(x, 0), 6);
    case 'sigmoid':
      return (x) => 1 / (1 + Math.exp(-x));
    case 'hard_sigmoid': {
      const s = a.hardSlope;
      return (x) => Math.min(Math.max(s * x + 0.5, 0), 1);
    }
    case 'tanh':
      return Math.tanh;
    case 'softplus':
      return softplus;
    case 'softsign':
      return (x) => x / (1 + Math.abs(x));
    case 'elu':
      return (x) => (x > 0 ? x : Math.expm1(x));
    case 'selu':
      return (x) => SELU_S * (x > 0 ? x : SELU_A * Math.expm1(x));
    case 'swish':
      return (x) => x / (1 + Math.exp(-x));
    case 'exponential':
      return Math.exp;
    case 'mish':
      return (x) => x * Math.tanh(softplus(x));
    case 'leaky_relu':
      return (x) => (x > 0 ? x : 0.2 * x);
    case 'hard_swish':
      return (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
    default:
      return (x) => x;
  }
}

/** y[r, :] = x[r, :] · kernel [I, U] + bias, for every row r; accumulates in float64. */
export function dense(x: Float32Array, rows: number, I: number, kernel: Float32Array, U: number, bias: Float32Array | null): Float32Array {
  const y = new Float32Array(rows * U);
  const acc = new Float64Array(U);
  for (let r = 0; r < rows; r++) {
    if (bias) for (let u = 0; u < U; u++) acc[u] = bias[u] as number;
    else acc.fill(0);
    const xo = r * I;
    for (let i = 0; i < I; i++) {
      const xv = x[xo + i] as number;
      if (xv === 0) continue;
      const ko = i * U;
      for (let u = 0; u < U; u++) acc[u] += xv * (kernel[ko + u] as number);
    }
    y.set(acc, r * U);
  }
  return y;
}
