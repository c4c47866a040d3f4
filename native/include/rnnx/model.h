// rnnx/model.h — a sequential model (embedding, recurrent stacks, dropout, pooling, dense,
// softmax) run natively: one call per inference batch, one call per training step (forward,
// loss, BPTT, clipping and the optimizer update).
//
// Layout: ids [B, T] (Int32) or features [B, T, F]; outputs [B, O] after a pool, [B, T, O]
// without one (zero at padded steps). Internally everything is time-major.
// Parameters live in one flat buffer per kind of owner (the model's own for embeddings and dense
// layers, each Rnn's for recurrent layers); params() lists them in file order with PyTorch names.
// A recurrent layer with num_layers = N runs as N single-layer Rnns (so that dropout can sit
// between them as in PyTorch); its parameter names keep the stack's numbering (_l0, _l1, ...).
//
// Thread safety: one call at a time per model (the glue enforces it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rnnx/buffer.h"
#include "rnnx/cell.h"
#include "rnnx/rnn.h"

namespace rnnx {

enum class LayerType : int { kEmbedding = 0, kDropout = 1, kRecurrent = 2, kPool = 3, kDense = 4, kSoftmax = 5 };
enum class PoolMode : int { kLast = 0, kMean = 1, kMax = 2, kMeanMax = 3 };
enum class DenseAct : int { kNone = 0, kRelu = 1, kTanh = 2, kSigmoid = 3 };

struct LayerSpec {
  LayerType type = LayerType::kDropout;
  std::string name;
  // embedding
  int64_t num_embeddings = 0, embedding_dim = 0, padding_idx = -1;
  // dropout p; for recurrent layers, dropout between the stack's layers (training only)
  double p = 0;
  // recurrent: cell, hidden_size, proj_size, num_layers, bidirectional, bias, activations
  // (input_size and batch_first are set by the model)
  RnnConfig rnn;
  PoolMode pool = PoolMode::kLast;
  // dense
  int64_t in_features = 0, out_features = 0;
  DenseAct act = DenseAct::kNone;
  bool bias = true;
};

struct ModelSpec {
  bool ids_input = true;     // ids [B, T]; else features [B, T, feature_size]
  int64_t feature_size = 0;  // features input only
  std::vector<LayerSpec> layers;
};

struct ModelParam {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset;  // in the model's flat parameter order (params() concatenated)
  int64_t size;
  bool decay;      // weight decay applies (matrices; not biases)
};

enum class LossKind : int { kCrossEntropy = 0, kMse = 1 };
enum class OptimKind : int { kSgd = 0, kAdam = 1, kAdamW = 2 };

struct OptimConfig {
  OptimKind kind = OptimKind::kAdam;
  double lr = 1e-3;
  double momentum = 0;      // SGD
  bool nesterov = false;    // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam / AdamW
  double weight_decay = 0;  // L2 (SGD, Adam) or decoupled (AdamW)
  double clip_norm = 0;     // > 0: scale gradients to this global L2 norm at most
  double clip_value = 0;    // > 0: clamp each gradient to [-v, v]
  double ema = 0;           // > 0: also keep an exponential moving average of the parameters (this decay)
};

template <typename T>
struct ModelBatch {
  int64_t batch = 0, seq_len = 0;
  const int32_t* ids = nullptr;      // [B, T] (ids input)
  const T* features = nullptr;       // [B, T, F] (features input)
  const int32_t* lengths = nullptr;  // [B], 1..T each; null = all T
  const T* state_in = nullptr;       // recurrent states to start from (state_size()), null = zeros
  T* state_out = nullptr;            // final recurrent states (may be null)
};

struct StepResult {
  double loss = 0;     // mean over the counted targets
  int64_t count = 0;   // targets counted (non-ignored)
  int64_t correct = 0; // cross-entropy: argmax == target
  double grad_norm = 0;  // global L2 norm before clipping
};

template <typename T>
class SeqModel {
 public:
  /// Validates the spec (throws kInvalidArgument naming the layer) and copies `count` parameters
  /// (param_count(); flat in params() order). params == nullptr: all zeros (count ignored).
  SeqModel(const ModelSpec& spec, const T* params, int64_t count);
  ~SeqModel();
  SeqModel(const SeqModel&) = delete;
  SeqModel& operator=(const SeqModel&) = delete;

  const ModelSpec& spec() const { return spec_; }
  const std::vector<ModelParam>& params() const { return params_; }
  int64_t param_count() const { return param_count_; }
  /// Width of one output row (O) and whether outputs are per step ([B, T, O]).
  int64_t output_size() const { return out_size_; }
  bool per_step() const { return per_step_; }
  /// Elements of the recurrent state for a batch of B (all recurrent layers' h, then c).
  int64_t state_size(int64_t batch) const;

  void get_params(T* out) const;
  void set_params(const T* in, int64_t count);

  /// Inference (dropout off). out: [B, O] or [B, T, O].
  void forward(const ModelBatch<T>& b, T* out);

  /// Forward and the loss only (dropout off): evaluation. `targets`: CE int32 [B] / [B, T]
  /// (-1 = ignore) or MSE T [B, O] / [B, T, O]. out may be null.
  StepResult evaluate(const ModelBatch<T>& b, LossKind loss, const int32_t* class_targets, const T* value_targets,
                      double label_smoothing, T* out);

  /// One training step: forward with dropout (masks from seed and step), loss, BPTT, clipping and the
  /// optimizer update (optimizer state kept here). `grads_out`, when given, receives the
  /// (unclipped) gradient and no update is made (for gradient checks).
  StepResult train_step(const ModelBatch<T>& b, LossKind loss, const int32_t* class_targets, const T* value_targets,
                        double label_smoothing, const OptimConfig& opt, uint64_t seed, T* grads_out);

  /// Optimizer state: step count and slots (0, 1 or 2 buffers of param_count()).
  int64_t optim_step() const { return optim_step_; }
  int optim_slots() const;
  void get_optim_state(int slot, T* out) const;
  void set_optim_state(OptimKind kind, int64_t step, int slot, const T* in, int64_t count);
  void reset_optim();
  /// The parameters' moving average (OptimConfig::ema): false when none is kept yet.
  bool get_ema(T* out) const;
  void set_ema(const T* in, int64_t count);

  int64_t native_bytes() const;

  struct Impl;  // internal (model.cc)

 private:
  std::unique_ptr<Impl> impl_;
  ModelSpec spec_;
  std::vector<ModelParam> params_;
  int64_t param_count_ = 0;
  int64_t out_size_ = 0;
  bool per_step_ = false;
  int64_t optim_step_ = 0;
  OptimKind optim_kind_ = OptimKind::kAdam;
};

extern template class SeqModel<float>;
extern template class SeqModel<double>;

}  // namespace rnnx
