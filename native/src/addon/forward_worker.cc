// forward_worker.cc — forwardAsync's AsyncWorker (see forward_worker.h for the thread of each
// method).
#include "forward_worker.h"

#include "addon_tape.h"

namespace rnnx::addon {

// JS thread.
template <typename T>
ForwardWorker<T>::ForwardWorker(Napi::Env env, Napi::Promise::Deferred deferred, Napi::Object module,
                                std::shared_ptr<ModuleState> state, std::unique_ptr<ForwardBaton<T>> baton,
                                std::unique_ptr<rnnx::Tape<T>> tape, const std::vector<napi_value>& arrays)
    : Napi::AsyncWorker(env, "rnnx.forwardAsync"),
      deferred_(deferred),
      state_(std::move(state)),
      rnn_(&state_->rnn<T>()),
      baton_(std::move(baton)),
      tape_(std::move(tape)) {
  // If anything here throws, the module is not marked busy yet (and the tape is simply freed).
  module_ref_ = Napi::Persistent(module);
  array_refs_.reserve(arrays.size());
  for (napi_value a : arrays) array_refs_.push_back(Napi::Persistent(Napi::Object(env, a)));
  // Last, so nothing above can leave the module marked busy.
  state_->busy.store(true, std::memory_order_release);
  marked_busy_ = true;
  AddAsyncInFlight(1);
}

// JS thread (from AsyncWorker::OnWorkComplete → Destroy, or from a failed Queue()).
template <typename T>
ForwardWorker<T>::~ForwardWorker() {
  if (marked_busy_) {
    state_->OnAsyncSettled();
    AddAsyncInFlight(-1);
  }
  state_->ReturnTape(std::move(tape_));  // no-op when OnOK handed it to a NativeTape
}

// libuv pool thread: no N-API here.
template <typename T>
void ForwardWorker<T>::Execute() {
  try {
    if (tape_) tape_->valid = false;
    rnn_->forward(baton_->args, tape_.get());
  } catch (...) {
    error_ = CaptureCurrentException("forwardAsync");
    failed_ = true;
    try {
      SetError(error_.message.empty() ? std::string("forwardAsync: failed") : error_.message);
    } catch (...) {
      // Copying the message failed (out of memory): OnOK sees failed_ and rejects instead.
    }
  }
}

// JS thread.
template <typename T>
void ForwardWorker<T>::OnOK() {
  Napi::Env env = Env();
  if (failed_) {
    OnError(Napi::Error());
    return;
  }
  try {
    if (!tape_) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    if (state_->disposed()) {
      // The outputs were written, but the tape belongs to a disposed module: it can never be
      // used for backward, so say so instead of handing out a dead tape.
      deferred_.Reject(MakeError(env, "RNNX_DISPOSED",
                                 "forwardAsync: the module was disposed before the call finished; "
                                 "its tape cannot be used")
                           .Value());
      return;
    }
    Napi::Object tape = AddonTape::Create<T>(env, state_, std::move(tape_));
    deferred_.Resolve(tape);
  } catch (const Napi::Error& e) {
    RejectQuietly(e.Value());
  } catch (...) {
    try {
      RejectQuietly(MakeError(env, CaptureCurrentException("forwardAsync")).Value());
    } catch (...) {
      // The environment is going away; nobody is left to tell.
    }
  }
}

// JS thread.
template <typename T>
void ForwardWorker<T>::OnError(const Napi::Error&) {
  try {
    RejectQuietly(MakeError(Env(), error_).Value());
  } catch (...) {
    // MakeError failed: the environment is shutting down.
  }
}

template <typename T>
void ForwardWorker<T>::RejectQuietly(Napi::Value reason) noexcept {
  try {
    deferred_.Reject(reason);
  } catch (...) {
    // Rejecting fails only while the environment shuts down.
  }
}

template class ForwardWorker<float>;
template class ForwardWorker<double>;

}  // namespace rnnx::addon
