import { Recurrent, type RecurrentOptions, type StateDict } from './Recurrent.js';
import type { ActivationSpec } from './activations.js';

export interface GRUOptions extends RecurrentOptions {
  /**
   * true (default): n = g(W_in x + b_in + r * (W_hn h + b_hn)) — PyTorch, ONNX linear_before_reset=1,
   * Keras reset_after=true. false: n = g(W_in x + b_in + W_hn (r * h) + b_hn) — ONNX default, tfjs.
   */
  linearBeforeReset?: boolean;
  /** [gate, candidate] activations (default sigmoid, tanh). */
  activations?: [ActivationSpec, ActivationSpec];
}

/**
 * A stack of GRU layers with PyTorch's semantics, names and layout (gates r, z, n;
 * weight_ih_l{k} [3H, in], weight_hh_l{k} [3H, H], bias_ih/bias_hh [3H]).
 */
export class GRU extends Recurrent {
  constructor(options: GRUOptions) {
    super('gru', options, ['linearBeforeReset'], null, 'stateDict');
  }

  static fromStateDict(stateDict: StateDict, options: GRUOptions): GRU {
    return Reflect.construct(Recurrent, ['gru', options, ['linearBeforeReset'], stateDict, 'stateDict'], GRU) as GRU;
  }
}
