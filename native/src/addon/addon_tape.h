// addon_tape.h — NativeTape: a recorded forward pass (rnnx::Tape<T>) owned by a JS object.
//
// A tape is created only by the module's forward(..., requiresGrad) / forwardAsync (JS cannot
// construct one: the constructor demands an internal token). It holds a shared_ptr to its
// module's state, so backward() can check it came from this module and the module's Rnn can
// never be freed under it. release() (or the GC finalizer) returns the buffers to the module's
// tape pool, or frees them if the module is gone.
//
// Threads: JS thread only.
#pragma once

#include <memory>

#include "addon_data.h"
#include "checked_this.h"
#include "module_state.h"

namespace rnnx::addon {

class AddonTape : public Napi::ObjectWrap<AddonTape> {
 public:
  /// Defines the JS class (not exported; AddonData keeps the constructor).
  static Napi::Function Define(Napi::Env env);
  static const napi_type_tag& Tag(const AddonData& d) noexcept { return d.tape_tag; }
  static constexpr const char* kWhat = "a NativeTape";

  /// Wraps `tape` (a filled recording) in a new JS NativeTape owned by `state`'s module.
  /// On failure the tape goes back to the pool and the error propagates.
  template <typename T>
  static Napi::Object Create(Napi::Env env, std::shared_ptr<ModuleState> state, std::unique_ptr<rnnx::Tape<T>> tape);

  /// The tape wrapped by `v`, checked by type tag. A value that is not one of our tapes →
  /// ArgError RNNX_INVALID_ARGUMENT (TypeError). Does not check released / owner.
  static AddonTape& FromArg(Napi::Env env, Napi::Value v);

  explicit AddonTape(const Napi::CallbackInfo& info);
  ~AddonTape() override;  // GC finalizer or env teardown: like release()

  bool released() const noexcept { return !state_; }
  const ModuleState* owner() const noexcept { return state_.get(); }
  template <typename T>
  const rnnx::Tape<T>& tape() const noexcept;

  /// Returns the buffers to the module's pool (or frees them). Idempotent.
  void Release() noexcept;

  // JS methods (called through CallChecked, which has checked `this`).
  Napi::Value ReleaseMethod(const Napi::CallbackInfo& info);
  Napi::Value GetReleased(const Napi::CallbackInfo& info);

 private:

  std::shared_ptr<ModuleState> state_;
  std::unique_ptr<rnnx::Tape<float>> f32_;
  std::unique_ptr<rnnx::Tape<double>> f64_;
  ExternalMemory memory_;
  std::unique_ptr<LiveToken> live_;
};

template <>
inline const rnnx::Tape<float>& AddonTape::tape<float>() const noexcept {
  return *f32_;
}
template <>
inline const rnnx::Tape<double>& AddonTape::tape<double>() const noexcept {
  return *f64_;
}

}  // namespace rnnx::addon
