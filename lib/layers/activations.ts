/**
 * Activation names, their ONNX default parameters, and conversion to the native ids.
 * The names follow ONNX's list (onnx/defs/rnn/defs.cc), in snake_case, with PyTorch/Keras aliases.
 */
import { invalidArg } from '../errors.js';
import { isPlainObject } from '../validate.js';
import { ACTIVATION_IDS, type NativeActivation } from '../native/types.js';

export type ActivationName = keyof typeof ACTIVATION_IDS;

/** An activation by name, or with explicit alpha/beta (ONNX `activation_alpha` / `activation_beta`). */
export type ActivationSpec = ActivationName | { name: ActivationName; alpha?: number; beta?: number };

/** ONNX defaults (and tfjs's for hard_sigmoid: clip(0.2x + 0.5, 0, 1)). */
const DEFAULTS: Record<ActivationName, [number, number]> = {
  sigmoid: [0, 0],
  tanh: [0, 0],
  relu: [0, 0],
  hard_sigmoid: [0.2, 0.5],
  affine: [1, 0],
  leaky_relu: [0.01, 0],
  thresholded_relu: [1, 0],
  scaled_tanh: [1, 1],
  elu: [1, 0],
  softsign: [0, 0],
  softplus: [0, 0],
};

const ALIASES: Record<string, ActivationName> = {
  hardsigmoid: 'hard_sigmoid',
  hardSigmoid: 'hard_sigmoid',
  leakyrelu: 'leaky_relu',
  leakyRelu: 'leaky_relu',
  thresholdedrelu: 'thresholded_relu',
  thresholdedRelu: 'thresholded_relu',
  scaledtanh: 'scaled_tanh',
  scaledTanh: 'scaled_tanh',
};

function resolveName(name: unknown, param: string): ActivationName {
  if (typeof name === 'string') {
    if (name in ACTIVATION_IDS) return name as ActivationName;
    const lower = name.toLowerCase();
    if (lower in ACTIVATION_IDS) return lower as ActivationName;
    const alias = ALIASES[name] ?? ALIASES[lower];
    if (alias) return alias;
  }
  throw invalidArg(param, `one of ${Object.keys(ACTIVATION_IDS).join(', ')}`, name);
}

/** Resolves a spec to the native form, filling ONNX defaults. */
export function toNativeActivation(spec: unknown, param: string): NativeActivation {
  let name: ActivationName;
  let alpha: unknown;
  let beta: unknown;
  if (isPlainObject(spec)) {
    name = resolveName(spec.name, `${param}.name`);
    alpha = spec.alpha;
    beta = spec.beta;
  } else {
    name = resolveName(spec, param);
  }
  const [da, db] = DEFAULTS[name];
  const a = alpha === undefined ? da : alpha;
  const b = beta === undefined ? db : beta;
  if (typeof a !== 'number' || !Number.isFinite(a)) throw invalidArg(`${param}.alpha`, 'a finite number', a);
  if (typeof b !== 'number' || !Number.isFinite(b)) throw invalidArg(`${param}.beta`, 'a finite number', b);
  return { kind: ACTIVATION_IDS[name], alpha: a, beta: b };
}

/** The name of a native activation id (for configs and messages). */
export function activationName(kind: number): ActivationName {
  const e = Object.entries(ACTIVATION_IDS).find(([, v]) => v === kind);
  return (e ? e[0] : 'sigmoid') as ActivationName;
}
