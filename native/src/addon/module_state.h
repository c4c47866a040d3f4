// module_state.h — the native side of one RnnModule, shared by its JS wrapper, its tapes, its
// streams and any async worker running on it.
//
// Ownership: everyone who may touch the Rnn holds a std::shared_ptr<ModuleState>. dispose() on
// the module marks the state disposed and frees the Rnn at once if nothing is running; if an
// async forward is in flight, the worker's own shared_ptr keeps the Rnn alive and the worker
// frees it when it settles (OnAsyncSettled). The small ModuleState shell itself lives until the
// last tape / stream / worker lets go of it, so they can always ask "is my module disposed?".
//
// Threads: every member function runs on the JS thread of the environment that created the
// module. The only thing a libuv worker touches is the Rnn (through a pointer taken on the JS
// thread while `busy` is set, so nobody frees or reuses it meanwhile).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "addon_data.h"
#include "convert.h"
#include "rnnx/rnn.h"

namespace rnnx::addon {

/// The sizes every shape check needs (from the config).
struct Dims {
  int64_t L = 0;  // numLayers
  int64_t D = 0;  // directions
  int64_t H = 0;  // hiddenSize
  int64_t R = 0;  // state size (projSize or hiddenSize)
  int64_t I = 0;  // inputSize
  bool lstm = false;
  explicit Dims(const rnnx::RnnConfig& c);
};

/// Bytes held by a tape's buffers.
template <typename T>
int64_t TapeBytes(const rnnx::Tape<T>& t) noexcept;

class ModuleState {
 public:
  /// Copies the weights (`count` elements of T for `dtype`). Throws rnnx::Error from the core.
  ModuleState(Napi::Env env, const rnnx::RnnConfig& cfg, DType dtype, const void* weights, int64_t count);
  ~ModuleState();
  ModuleState(const ModuleState&) = delete;
  ModuleState& operator=(const ModuleState&) = delete;

  const rnnx::RnnConfig& config() const noexcept { return cfg_; }
  const Dims& dims() const noexcept { return dims_; }
  DType dtype() const noexcept { return dtype_; }

  /// dispose() was called on the module (or the environment is closing).
  bool disposed() const noexcept { return disposed_; }
  /// The Rnn has been freed (after dispose, once nothing runs on it).
  bool released() const noexcept { return !f32_ && !f64_; }

  /// An async forward is running. Set (compare-exchange) on the JS thread before queueing,
  /// cleared on the JS thread when the worker settles.
  std::atomic<bool> busy{false};

  /// The Rnn. Precondition: !released() and dtype matches T.
  template <typename T>
  rnnx::Rnn<T>& rnn() noexcept;

  /// Throws RNNX_DISPOSED if disposed, RNNX_BUSY if an async call runs (when `check_busy`).
  void RequireUsable(bool check_busy) const;

  /// Marks the module disposed; frees the Rnn and the tape pool now unless an async forward runs.
  void MarkDisposed();
  /// Called by a settling async worker: clears `busy`; frees the Rnn if the module was disposed
  /// meanwhile, else re-reports its memory (the workspace may have grown).
  void OnAsyncSettled() noexcept;
  /// Frees the Rnn and the pooled tapes (not while busy). Idempotent.
  void ReleaseNative() noexcept;

  /// A tape for a recording forward: a pooled one (its buffers are reused) or a new one.
  template <typename T>
  std::unique_ptr<rnnx::Tape<T>> TakeTape();
  /// Gives a tape back to the pool (or frees it when the module is disposed / the pool is full).
  template <typename T>
  void ReturnTape(std::unique_ptr<rnnx::Tape<T>> tape) noexcept;

  /// Reports weights + workspace + pooled tapes to V8 (skipped while busy). Never throws.
  void SyncMemory() noexcept;
  /// Native bytes held now (0 once released). Not while busy (the workspace may be growing).
  int64_t native_bytes() const noexcept;
  /// The bytes last reported to V8 (safe at any time on the JS thread).
  int64_t reported_bytes() const noexcept { return memory_.bytes(); }

 private:
  static constexpr size_t kMaxPooledTapes = 4;

  rnnx::RnnConfig cfg_;
  Dims dims_;
  DType dtype_;
  bool disposed_ = false;
  std::unique_ptr<rnnx::Rnn<float>> f32_;
  std::unique_ptr<rnnx::Rnn<double>> f64_;
  std::vector<std::unique_ptr<rnnx::Tape<float>>> pool_f32_;
  std::vector<std::unique_ptr<rnnx::Tape<double>>> pool_f64_;
  ExternalMemory memory_;
  std::shared_ptr<EnvRegistry> registry_;
  LiveToken live_;
};

template <>
inline rnnx::Rnn<float>& ModuleState::rnn<float>() noexcept {
  return *f32_;
}
template <>
inline rnnx::Rnn<double>& ModuleState::rnn<double>() noexcept {
  return *f64_;
}

}  // namespace rnnx::addon
