// rnnx/rnn.h — a stack of recurrent layers: forward pass and backpropagation through time.
//
// All pointers are raw views owned by the caller; sizes are validated by the caller (the N-API
// glue checks every TypedArray length against these shapes before calling in). Shapes, with
// T = seq_len, B = batch, L = num_layers, D = dirs, H = hidden_size, R = state_size, I = input_size:
//   x      [T, B, I]        ([B, T, I] when batch_first)
//   y      [T, B, D*R]      ([B, T, D*R] when batch_first); zero at padded steps t >= lengths[b]
//   h0/hn  [L*D, B, R]      index (layer * D + dir)
//   c0/cn  [L*D, B, H]      LSTM only
//   lengths[B]              1 <= lengths[b] <= T (PyTorch packed-sequence semantics: the final
//                           state is taken at each sequence's own end; the reverse direction starts
//                           there)
// Thread safety: an Rnn owns one inference workspace, so one Rnn runs one call at a time (the
// glue enforces it with a busy flag). Tapes are independent objects.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rnnx/buffer.h"
#include "rnnx/cell.h"

namespace rnnx {

/// Precision of the weights in inference-only forward passes (forward without a tape). Training
/// (forward with a tape, backward) always uses float32 weights. bf16: weights rounded to bfloat16;
/// int8: symmetric per-row quantisation (scale = max|row| / 127). Activations and accumulation stay
/// float32. Float32 models only.
enum class Precision : int { kFloat32 = 0, kBf16 = 1, kInt8 = 2 };

enum class ParamKind : int { kWeightIh = 0, kWeightHh = 1, kBiasIh = 2, kBiasHh = 3, kWeightHr = 4, kPeephole = 5 };
constexpr int kParamKinds = 6;

/// One named parameter inside the flat weight buffer, in PyTorch's state-dict order and naming
/// (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_hr_l0, then *_reverse, then l1...);
/// LSTM peepholes (an ONNX extension) follow as weight_p_l{k} [3H] (i, f, o).
struct ParamSpec {
  std::string name;
  ParamKind kind;
  int layer;
  int dir;
  int64_t rows;    // first dimension
  int64_t cols;    // second dimension; 0 for a vector
  int64_t offset;  // element offset in the flat buffer
  int64_t size;    // rows * max(cols, 1)
};

/// PyTorch-named parameters of `cfg` in state-dict order. Validates cfg.
std::vector<ParamSpec> param_specs(const RnnConfig& cfg);

template <typename T>
struct ForwardArgs {
  int64_t seq_len = 0;
  int64_t batch = 0;
  const T* x = nullptr;
  const T* h0 = nullptr;             // null: zeros
  const T* c0 = nullptr;             // null: zeros (LSTM)
  const int32_t* lengths = nullptr;  // null: every sequence has seq_len steps
  T* y = nullptr;                    // null (inference only): the top layer writes no per-step output
  T* hn = nullptr;                   // may be null; may alias h0
  T* cn = nullptr;                   // may be null; may alias c0 (LSTM)
};

template <typename T>
struct BackwardArgs {
  const T* gy = nullptr;   // dL/dy, like y; null = zeros. Padded steps are ignored.
  const T* ghn = nullptr;  // dL/dhn; null = zeros
  const T* gcn = nullptr;  // dL/dcn; null = zeros (LSTM)
  T* dx = nullptr;         // dL/dx, like x (required); zero at padded steps
  T* dh0 = nullptr;        // dL/dh0 (may be null)
  T* dc0 = nullptr;        // dL/dc0 (may be null; LSTM)
  T* dw = nullptr;         // dL/dweights, flat like the weights (required)
  bool accumulate_dw = false;  // add into dw instead of overwriting it
  // Optional: dL/dh_t, the total gradient reaching each step's state h_t (through the output at t and
  // every later step), [L*D, T, B, R] time-major whatever the layout; zero at padded steps. What a
  // vanishing-gradient plot shows (||dL/dh_t|| against t).
  T* dh_steps = nullptr;
};

/// What the forward pass keeps for BPTT. Reusable: a second forward into the same Tape reuses its
/// buffers (they only grow), so a training loop allocates nothing after its first step.
template <typename T>
struct Tape {
  struct Dir {
    Buffer<T> pre;    // [T, B, S] gate pre-activations (pre-clip); S = 4H (LSTM, GRU) or H (RNN).
                      // GRU stores r, z, n pre-activations and the recurrent n term (Rn h + brn)
    Buffer<T> hprev;  // [T, B, R] the state entering step t (zero at padded steps)
    Buffer<T> cprev;  // [T, B, H] LSTM cell state entering step t
    Buffer<T> c;      // [T, B, H] LSTM cell state after step t
  };
  int64_t seq_len = 0, batch = 0, max_len = 0;
  std::vector<int32_t> lengths;   // [B]
  Buffer<T> x0;                   // layer-0 input, time-major [T, B, I]
  std::vector<Buffer<T>> layer_out;  // [L] each [T, B, D*R] time-major
  std::vector<Dir> dirs;          // [L*D]
  uint64_t weights_version = 0;   // the Rnn's weights version at forward time
  bool valid = false;
};

template <typename T>
class Rnn {
 public:
  /// Copies `count` weights (must equal param_count()) laid out as param_specs(cfg) says.
  /// Throws kInvalidArgument for a bad config, kShapeMismatch for a wrong count, kOutOfMemory.
  Rnn(const RnnConfig& cfg, const T* weights, int64_t count);

  const RnnConfig& config() const { return cfg_; }
  const std::vector<ParamSpec>& params() const { return params_; }
  int64_t param_count() const { return static_cast<int64_t>(w_.size()); }
  const T* weights() const { return w_.data(); }
  /// Replaces the weights (count must equal param_count()); bumps weights_version().
  void set_weights(const T* weights, int64_t count);
  uint64_t weights_version() const { return version_; }
  /// In-place access for optimizers; call weights_changed() after writing (repacks, invalidates tapes).
  T* mutable_weights() { return w_.data(); }
  void weights_changed() { ++version_; }

  /// Sets the inference weight precision (see Precision). Throws kInvalidArgument on a float64
  /// model for anything but kFloat32.
  void set_precision(Precision p);
  Precision precision() const { return precision_; }

  /// Validates lengths (1..seq_len each) and shapes; throws kShapeMismatch / kInvalidArgument.
  void check_call(int64_t seq_len, int64_t batch, const int32_t* lengths) const;

  /// Runs the stack. With `tape`, records what backward() needs (the tape's buffers are reused).
  /// Runs on the calling thread.
  void forward(const ForwardArgs<T>& a, Tape<T>* tape);

  /// BPTT through what `tape` recorded. Throws kInvalidArgument if the tape is empty or was made
  /// with other weights. Runs on the calling thread.
  void backward(const Tape<T>& tape, const BackwardArgs<T>& a);

  /// Bytes of native memory held by weights and the inference workspace.
  int64_t native_bytes() const;

 private:
  struct Workspace;
  // Packs the weights for `table` (a cpu::KernelTable<T>): the forward set, and with `backward`
  // also the transposed set the backward products use. Repacks after weight / ISA / precision changes.
  void ensure_packed(const void* table, bool backward);
  RnnConfig cfg_;
  std::vector<ParamSpec> params_;
  std::vector<int64_t> offsets_;  // [L*D*kParamKinds] offset of each ParamKind, -1 if absent
  Buffer<T> w_;
  uint64_t version_ = 1;
  Precision precision_ = Precision::kFloat32;
  std::unique_ptr<Workspace> ws_;

 public:
  ~Rnn();
  Rnn(const Rnn&) = delete;
  Rnn& operator=(const Rnn&) = delete;

  const T* param(int layer, int dir, ParamKind k) const {
    int64_t o = offsets_[(static_cast<size_t>(layer) * cfg_.dirs() + dir) * kParamKinds + static_cast<int>(k)];
    return o < 0 ? nullptr : w_.data() + o;
  }
  int64_t param_offset(int layer, int dir, ParamKind k) const {
    return offsets_[(static_cast<size_t>(layer) * cfg_.dirs() + dir) * kParamKinds + static_cast<int>(k)];
  }
};

extern template class Rnn<float>;
extern template class Rnn<double>;

namespace testing {
/// Native tests only: forces the mode of the fused step at batch 1 over a long sequence, where the
/// tuner would choose by measurement: 0 the team, 1 the pipe, 2 one thread (the projection still in
/// chunks over the pool); -1 (the default) leaves it to RNNX_STEP_MODE, else the tuner. A mode the
/// call cannot run (the team or the pipe on one thread) falls back to one thread.
void force_step_mode(int mode);
/// Native tests only: forces how a team splits the fused step at batch > 1: 0 by hidden-unit blocks,
/// 1 by batch rows (when every member gets a row); -1 (the default) leaves it to RNNX_STEP_SPLIT,
/// else the rule (kRowSplitMinRows, kRowSplitMaxBytes in rnn.cc).
void force_step_split(int split);
/// Native tests only: whether a step from an all-zero state (none given, or zeros) skips its recurrent
/// product (true, the default), so that tests can compare it with the product computed.
void skip_zero_state(bool skip);
}  // namespace testing

}  // namespace rnnx
