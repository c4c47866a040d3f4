import { Recurrent, type RecurrentOptions, type StateDict } from './Recurrent.js';
import type { ActivationSpec } from './activations.js';

export interface LSTMOptions extends RecurrentOptions {
  /** Project h to this width with weight_hr (PyTorch proj_size; 0 = none). */
  projSize?: number;
  /** ONNX peepholes: weight_p_l{k} [3H] (gates i, f, o) add P*c to those gates' pre-activations. */
  peepholes?: boolean;
  /** ONNX input_forget: couple the gates, f = 1 - i. */
  inputForget?: boolean;
  /** [gate, candidate, cell output] activations (default sigmoid, tanh, tanh). */
  activations?: [ActivationSpec, ActivationSpec, ActivationSpec];
}

/**
 * A stack of LSTM layers with PyTorch's semantics, names and layout (gates i, f, g, o;
 * weight_ih_l{k} [4H, in], weight_hh_l{k} [4H, R], bias_ih/bias_hh [4H], weight_hr_l{k} [P, H]).
 *
 * ```ts
 * const lstm = LSTM.fromStateDict(stateDict, { inputSize: 40, hiddenSize: 256 });
 * const { output, h, c } = lstm.forward(x, { lengths });
 * ```
 */
export class LSTM extends Recurrent {
  /** A new stack with PyTorch's default initialisation, uniform(-1/sqrt(H), 1/sqrt(H)), seeded. */
  constructor(options: LSTMOptions) {
    super('lstm', options, ['projSize', 'peepholes', 'inputForget'], null, 'stateDict');
  }

  /** A stack holding the given weights (PyTorch names; every parameter required, none extra). */
  static fromStateDict(stateDict: StateDict, options: LSTMOptions): LSTM {
    return Reflect.construct(Recurrent, ['lstm', options, ['projSize', 'peepholes', 'inputForget'], stateDict, 'stateDict'], LSTM) as LSTM;
  }
}
