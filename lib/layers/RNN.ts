import { Recurrent, type RecurrentOptions, type StateDict } from './Recurrent.js';
import type { ActivationSpec } from './activations.js';

export interface RNNOptions extends RecurrentOptions {
  /** 'tanh' (default) or 'relu', as PyTorch's nn.RNN. */
  nonlinearity?: 'tanh' | 'relu';
  /** Any single activation instead of nonlinearity (ONNX's list). */
  activations?: [ActivationSpec];
}

/**
 * A stack of vanilla (Elman) RNN layers: h' = f(W_ih x + b_ih + W_hh h + b_hh), PyTorch's names
 * and layout (weight_ih_l{k} [H, in], weight_hh_l{k} [H, H]).
 */
export class RNN extends Recurrent {
  constructor(options: RNNOptions) {
    super('rnn', options, ['nonlinearity'], null, 'stateDict');
  }

  static fromStateDict(stateDict: StateDict, options: RNNOptions): RNN {
    return Reflect.construct(Recurrent, ['rnn', options, ['nonlinearity'], stateDict, 'stateDict'], RNN) as RNN;
  }
}
