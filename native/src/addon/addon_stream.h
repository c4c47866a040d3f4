// addon_stream.h — NativeStream: step-by-step inference with the recurrent state kept natively.
//
// Created by RnnModule.createStream(batch) for unidirectional models only (the reverse direction
// of a bidirectional model needs the whole sequence). The stream owns h [L, B, R] and, for LSTM,
// c [L, B, H] (zeros at first). step(x [B, I], y [B, R]) runs Rnn::forward with seqLen 1 and
// h0 = hn = h, c0 = cn = c (the core allows that aliasing). It shares the module's Rnn and busy
// flag, so it refuses to step while an async forward runs on the module, and reports
// RNNX_DISPOSED once the module is disposed.
//
// Threads: JS thread only (a step is synchronous: one time step is tiny work).
#pragma once

#include <memory>

#include "addon_data.h"
#include "checked_this.h"
#include "module_state.h"

namespace rnnx::addon {

class AddonStream : public Napi::ObjectWrap<AddonStream> {
 public:
  static Napi::Function Define(Napi::Env env);
  static const napi_type_tag& Tag(const AddonData& d) noexcept { return d.stream_tag; }
  static constexpr const char* kWhat = "a NativeStream";

  /// A new JS NativeStream over `state` for `batch` sequences (checked by the caller).
  static Napi::Object Create(Napi::Env env, std::shared_ptr<ModuleState> state, int64_t batch);

  explicit AddonStream(const Napi::CallbackInfo& info);
  ~AddonStream() override = default;  // GC finalizer: members free the state buffers

  // JS methods (called through CallChecked, which has checked `this`).
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value SetState(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetBatch(const Napi::CallbackInfo& info);

 private:

  /// The module state, after checking stream and module are usable (and not busy if asked).
  ModuleState& Usable(bool check_busy);
  template <typename T>
  void StepT(Napi::Value x, Napi::Value y);
  template <typename T>
  void CopyState(Napi::Value h, Napi::Value c, bool out);
  template <typename T>
  rnnx::Buffer<T>& h() noexcept;
  template <typename T>
  rnnx::Buffer<T>& c() noexcept;
  void Allocate();  // sizes and zeros the state buffers
  void Free() noexcept;

  std::shared_ptr<ModuleState> state_;
  int64_t batch_ = 0;
  bool disposed_ = false;
  rnnx::Buffer<float> hf_, cf_;
  rnnx::Buffer<double> hd_, cd_;
  ExternalMemory memory_;
  std::unique_ptr<LiveToken> live_;
};

template <>
inline rnnx::Buffer<float>& AddonStream::h<float>() noexcept {
  return hf_;
}
template <>
inline rnnx::Buffer<double>& AddonStream::h<double>() noexcept {
  return hd_;
}
template <>
inline rnnx::Buffer<float>& AddonStream::c<float>() noexcept {
  return cf_;
}
template <>
inline rnnx::Buffer<double>& AddonStream::c<double>() noexcept {
  return cd_;
}

}  // namespace rnnx::addon
