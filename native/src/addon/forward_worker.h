// forward_worker.h — forwardAsync: one forward pass on a libuv thread-pool thread.
//
// Lifecycle, and the thread each step runs on:
//   constructor  JS thread   takes the baton (plain C++: raw views + lengths copy), the tape (when
//                            recording), a shared_ptr to the module state, an ObjectReference to
//                            every input/output TypedArray and to the module object (so the GC
//                            can free none of them), then marks the module busy.
//   Execute      pool thread runs Rnn::forward on the baton. Makes no N-API call; catches
//                            everything and records the code + message ("forwardAsync: ...").
//   OnOK         JS thread   resolves the promise with a NativeTape (requiresGrad) or undefined.
//   OnError      JS thread   rejects with an Error carrying `.code`.
//   destructor   JS thread   clears busy; frees the Rnn if the module was disposed meanwhile
//                            (ModuleState::OnAsyncSettled); returns an unused tape to the pool;
//                            drops the references. Runs also when the work was cancelled (env
//                            teardown), where neither OnOK nor OnError is called.
// Inputs must not be modified or transferred until the promise settles (lib/native/types.ts).
#pragma once

#include <memory>
#include <vector>

#include "addon_rnn.h"
#include "errors.h"

namespace rnnx::addon {

template <typename T>
class ForwardWorker : public Napi::AsyncWorker {
 public:
  ForwardWorker(Napi::Env env, Napi::Promise::Deferred deferred, Napi::Object module,
                std::shared_ptr<ModuleState> state, std::unique_ptr<ForwardBaton<T>> baton,
                std::unique_ptr<rnnx::Tape<T>> tape, const std::vector<napi_value>& arrays);
  ~ForwardWorker() override;

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  void RejectQuietly(Napi::Value reason) noexcept;

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference module_ref_;
  std::vector<Napi::ObjectReference> array_refs_;
  std::shared_ptr<ModuleState> state_;
  rnnx::Rnn<T>* rnn_;  // taken on the JS thread; alive while busy (state_ holds it)
  std::unique_ptr<ForwardBaton<T>> baton_;
  std::unique_ptr<rnnx::Tape<T>> tape_;
  CapturedError error_;  // written by Execute, read by OnError (after the pool thread is done)
  bool failed_ = false;   // Execute caught an exception (set on the pool thread, read after)
  bool marked_busy_ = false;
};

extern template class ForwardWorker<float>;
extern template class ForwardWorker<double>;

}  // namespace rnnx::addon
