// rnnx/cell.h — cell kinds, activations, gate order and weight layout: named once, here.
//
// Internal layout = PyTorch's (loaders for ONNX / Keras permute and transpose into it):
//   LSTM  gates i, f, g, o   weight_ih [4H, in]  weight_hh [4H, R]  bias_ih/bias_hh [4H]
//                            weight_hr [P, H] when proj_size P > 0 (then R = P, else R = H)
//         i = f(Wi x + bi + Ri h + bri)          (f: gate activation, default sigmoid)
//         f = f(...), o = f(...), g = g(...)     (g: candidate activation, default tanh)
//         c' = f * c + i * g ;  h' = o * h(c')   (h: output activation, default tanh)
//         h' = W_hr h' when projecting
//         ONNX extensions (LSTM): peepholes weight_p_l{k} [3H] in order i, f, o add P_i*c, P_f*c to
//         the i and f pre-activations and P_o*c' to o's; input_forget couples f = 1 - i.
//   GRU   gates r, z, n      weight_ih [3H, in]  weight_hh [3H, H]  bias_ih/bias_hh [3H]
//         r = f(Wr x + br + Rr h + brr), z = f(Wz x + bz + Rz h + brz)
//         linear_before_reset (PyTorch; ONNX linear_before_reset=1; Keras reset_after=true):
//             n = g(Wn x + bn + r * (Rn h + brn))
//         otherwise (ONNX default; tfjs; Keras reset_after=false):
//             n = g(Wn x + bn + Rn (r * h) + brn)
//         h' = (1 - z) * n + z * h
//   RNN   one gate           weight_ih [H, in]   weight_hh [H, H]    h' = f(W x + b + R h + br)
//
// ONNX `clip` clamps every gate pre-activation to [-clip, clip] before its activation (0 = no clip);
// the LSTM cell-output activation h(c) takes the unclipped cell state (onnxruntime's behaviour).
#pragma once

#include <cstdint>

namespace rnnx {

enum class CellType : int { kRnn = 0, kLstm = 1, kGru = 2 };

// ONNX's activation list (onnx/defs/rnn/defs.cc). alpha/beta as ONNX defines them; the caller
// (lib/) resolves defaults, the core takes them as given.
enum class Activation : int {
  kSigmoid = 0,
  kTanh = 1,
  kRelu = 2,
  kHardSigmoid = 3,      // clamp(alpha * x + beta, 0, 1)  (tfjs: alpha 0.2, beta 0.5)
  kAffine = 4,           // alpha * x + beta
  kLeakyRelu = 5,        // x >= 0 ? x : alpha * x
  kThresholdedRelu = 6,  // x > alpha ? x : 0
  kScaledTanh = 7,       // alpha * tanh(beta * x)
  kElu = 8,              // x >= 0 ? x : alpha * (exp(x) - 1)
  kSoftsign = 9,         // x / (1 + |x|)
  kSoftplus = 10,        // log(1 + exp(x))
};
constexpr int kActivationCount = 11;

struct ActSpec {
  Activation kind = Activation::kSigmoid;
  double alpha = 0;
  double beta = 0;
};

/// Number of gate blocks of a cell: RNN 1, LSTM 4, GRU 3.
inline int gate_count(CellType c) { return c == CellType::kLstm ? 4 : c == CellType::kGru ? 3 : 1; }

/// A stack of recurrent layers (what torch.nn.LSTM / GRU / RNN is).
struct RnnConfig {
  CellType cell = CellType::kLstm;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t proj_size = 0;       // LSTM only; 0 = no projection
  int64_t num_layers = 1;
  bool bidirectional = false;
  bool batch_first = false;    // x / y are [B, T, F] instead of [T, B, F]
  bool bias = true;
  bool linear_before_reset = true;  // GRU only, see above
  // Activations in ONNX's order: f (gates), g (candidate / RNN output), h (LSTM cell output).
  // RNN uses only `f`; GRU f and g; LSTM all three.
  ActSpec f{Activation::kSigmoid, 0, 0};
  ActSpec g{Activation::kTanh, 0, 0};
  ActSpec h{Activation::kTanh, 0, 0};
  double clip = 0;             // 0 = none
  bool peepholes = false;      // LSTM only (ONNX P)
  bool input_forget = false;   // LSTM only (ONNX input_forget)

  int dirs() const { return bidirectional ? 2 : 1; }
  int gates() const { return gate_count(cell); }
  /// Width of the recurrent state h (proj_size when projecting, else hidden_size).
  int64_t state_size() const { return proj_size > 0 ? proj_size : hidden_size; }
  /// Width of one layer's output: dirs * state_size.
  int64_t output_size() const { return dirs() * state_size(); }
  int64_t layer_input_size(int64_t layer) const { return layer == 0 ? input_size : output_size(); }
};

/// Throws rnnx::Error(kInvalidArgument) naming the field when the config is unusable.
void validate_config(const RnnConfig& cfg);

}  // namespace rnnx
