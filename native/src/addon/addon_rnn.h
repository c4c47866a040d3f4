// addon_rnn.h — RnnModule: the JS class over rnnx::Rnn<float|double> (see lib/native/types.ts,
// NativeRnn, for the exact JS shape).
//
// The wrapper holds a std::shared_ptr<ModuleState>; tapes, streams and async workers hold their
// own, so dispose() (or the GC) dropping the wrapper's reference never frees memory that is
// still in use. Every method checks, in this order: disposed (RNNX_DISPOSED), busy (RNNX_BUSY,
// for calls that use the Rnn's workspace or change its weights), then its arguments; and it
// reads all argument fields (which may run getters) before it takes any raw data pointer.
//
// Threads: every method runs on the JS thread. Only ForwardWorker::Execute (forward_worker.h)
// runs elsewhere.
#pragma once

#include <memory>
#include <vector>

#include "addon_data.h"
#include "checked_this.h"
#include "module_state.h"

namespace rnnx::addon {

/// The fields of a NativeForwardArgs object, read (getters run) but not yet checked.
struct ForwardFields {
  Napi::Value seq_len, batch, x, h0, c0, lengths, y, hn, cn, requires_grad;
};

/// A forward call in plain C++: raw views into the caller's TypedArrays (used in place) and a
/// copy of the lengths. Built on the JS thread; the async worker reads only this.
template <typename T>
struct ForwardBaton {
  rnnx::ForwardArgs<T> args;     // args.lengths points into `lengths` (or is null)
  std::vector<int32_t> lengths;  // checked copy (1..seqLen each)
  bool requires_grad = false;
};

class AddonRnn : public Napi::ObjectWrap<AddonRnn> {
 public:
  static Napi::Function Define(Napi::Env env);
  static const napi_type_tag& Tag(const AddonData& d) noexcept { return d.rnn_tag; }
  static constexpr const char* kWhat = "an RnnModule";

  /// new RnnModule(config, weights): checks the config and the weights (dtype, length), copies
  /// the weights into a new rnnx::Rnn and reports its memory to V8.
  explicit AddonRnn(const Napi::CallbackInfo& info);
  ~AddonRnn() override = default;  // GC finalizer: drops this wrapper's share of the state

  // JS methods (called through CallChecked, which has checked `this`).
  Napi::Value ParamSpecs(const Napi::CallbackInfo& info);
  Napi::Value GetParamCount(const Napi::CallbackInfo& info);
  Napi::Value GetWeights(const Napi::CallbackInfo& info);
  Napi::Value SetWeights(const Napi::CallbackInfo& info);
  Napi::Value SetPrecision(const Napi::CallbackInfo& info);
  Napi::Value GetPrecision(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value CreateStream(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetBusy(const Napi::CallbackInfo& info);
  Napi::Value GetNativeBytes(const Napi::CallbackInfo& info);

 private:
  /// The state, after the disposed (and, with check_busy, busy) checks.
  ModuleState& Usable(bool check_busy) const;

  template <typename T>
  Napi::Value ForwardSync(Napi::Env env, const ForwardFields& f);
  template <typename T>
  void QueueForward(Napi::Env env, Napi::Object self, const ForwardFields& f, Napi::Promise::Deferred deferred);

  std::shared_ptr<ModuleState> state_;
};

/// Reads the fields of a NativeForwardArgs object (TypeError RNNX_INVALID_ARGUMENT if `args` is
/// not an object). May run JS getters.
ForwardFields ReadForwardFields(Napi::Value args);

/// Checks `f` against the module's config and returns the baton. `arrays`, when given, receives
/// every TypedArray used (so an async worker can reference them). Never runs JS.
template <typename T>
std::unique_ptr<ForwardBaton<T>> PrepareForward(ModuleState& st, const ForwardFields& f,
                                                std::vector<napi_value>* arrays);

}  // namespace rnnx::addon
