// addon_stream.cc — NativeStream (see addon_stream.h).
#include "addon_stream.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace rnnx::addon {

Napi::Function AddonStream::Define(Napi::Env env) {
  using W = AddonStream;
  return DefineCheckedClass<W>(env, "NativeStream",
                               {
                                   CheckedMethod<W, &W::Step>(env, "step"),
                                   CheckedMethod<W, &W::GetState>(env, "getState"),
                                   CheckedMethod<W, &W::SetState>(env, "setState"),
                                   CheckedMethod<W, &W::Reset>(env, "reset"),
                                   CheckedMethod<W, &W::Dispose>(env, "dispose"),
                                   CheckedGetter<W, &W::GetDisposed>("disposed"),
                                   CheckedGetter<W, &W::GetBatch>("batch"),
                               });
}

AddonStream::AddonStream(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<AddonStream>(info), memory_(info.Env()) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    AddonData& data = GetAddonData(env);
    if (info.Length() < 1 || !info[0].IsExternal() || info[0].As<Napi::External<AddonData>>().Data() != &data)
      throw ArgError(Code::kInvalidArgument, JsKind::kTypeError,
                     "NativeStream cannot be constructed directly; use createStream(batch)");
    info.This().As<Napi::Object>().TypeTag(&data.stream_tag);
  });
}

Napi::Object AddonStream::Create(Napi::Env env, std::shared_ptr<ModuleState> state, int64_t batch) {
  AddonData& data = GetAddonData(env);
  Napi::Object obj = data.stream_ctor.New({Napi::External<AddonData>::New(env, &data)});
  AddonStream* self = Napi::ObjectWrap<AddonStream>::Unwrap(obj);
  self->state_ = std::move(state);
  self->batch_ = batch;
  self->Allocate();
  self->live_ = std::make_unique<LiveToken>();
  return obj;
}

void AddonStream::Allocate() {
  const Dims& d = state_->dims();
  const int64_t nh = rnnx::checked_mul({d.L, batch_, d.R}, "createStream: state h");
  const int64_t nc = d.lstm ? rnnx::checked_mul({d.L, batch_, d.H}, "createStream: state c") : 0;
  int64_t bytes = 0;
  try {
    if (state_->dtype() == DType::kFloat32) {
      hf_.assign(static_cast<size_t>(nh), 0.0f);
      cf_.assign(static_cast<size_t>(nc), 0.0f);
      bytes = (nh + nc) * static_cast<int64_t>(sizeof(float));
    } else {
      hd_.assign(static_cast<size_t>(nh), 0.0);
      cd_.assign(static_cast<size_t>(nc), 0.0);
      bytes = (nh + nc) * static_cast<int64_t>(sizeof(double));
    }
  } catch (const std::bad_alloc&) {
    throw rnnx::Error(Code::kOutOfMemory, "createStream: out of memory for the state");
  }
  memory_.Set(bytes);
}

void AddonStream::Free() noexcept {
  rnnx::Buffer<float>().swap(hf_);
  rnnx::Buffer<float>().swap(cf_);
  rnnx::Buffer<double>().swap(hd_);
  rnnx::Buffer<double>().swap(cd_);
  memory_.Set(0);
  state_.reset();
  live_.reset();
}

ModuleState& AddonStream::Usable(bool check_busy) {
  if (disposed_ || !state_)
    throw ArgError(Code::kDisposed, JsKind::kError, "Stream is disposed; create a new one with createStream()");
  state_->RequireUsable(check_busy);
  return *state_;
}

template <typename T>
void AddonStream::StepT(Napi::Value xv, Napi::Value yv) {
  ModuleState& st = Usable(true);
  const Dims& d = st.dims();
  T* x = CheckArray<T>(xv, "x", Shape{{"batch", batch_}, {"inputSize", d.I}});
  T* y = CheckArray<T>(yv, "y", Shape{{"batch", batch_}, {"stateSize", d.R}});
  rnnx::ForwardArgs<T> a;
  a.seq_len = 1;
  a.batch = batch_;
  a.x = x;
  a.y = y;
  a.h0 = a.hn = h<T>().data();
  if (d.lstm) a.c0 = a.cn = c<T>().data();
  st.rnn<T>().forward(a, nullptr);
  st.SyncMemory();  // the workspace may have grown for this batch size
}

template <typename T>
void AddonStream::CopyState(Napi::Value hv, Napi::Value cv, bool out) {
  ModuleState& st = Usable(false);
  const Dims& d = st.dims();
  T* hp = CheckArray<T>(hv, "h", Shape{{"numLayers", d.L}, {"batch", batch_}, {"stateSize", d.R}});
  T* cp = nullptr;
  if (d.lstm) {
    cp = CheckArray<T>(cv, "c", Shape{{"numLayers", d.L}, {"batch", batch_}, {"hiddenSize", d.H}}, true);
  } else if (!IsNullish(cv)) {
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "c", "null (only LSTM models have a cell state)", cv);
  }
  rnnx::Buffer<T>& hb = h<T>();
  rnnx::Buffer<T>& cb = c<T>();
  if (out) {
    std::memcpy(hp, hb.data(), hb.size() * sizeof(T));
    if (cp) std::memcpy(cp, cb.data(), cb.size() * sizeof(T));
  } else {
    std::memcpy(hb.data(), hp, hb.size() * sizeof(T));
    if (cp)
      std::memcpy(cb.data(), cp, cb.size() * sizeof(T));
    else
      std::fill(cb.begin(), cb.end(), T(0));
  }
}

Napi::Value AddonStream::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    // Positional arguments: no getters run between the checks and the call.
    if (state_ && !disposed_ && state_->dtype() == DType::kFloat64)
      StepT<double>(info[0], info[1]);
    else
      StepT<float>(info[0], info[1]);
    return env.Undefined();
  });
}

Napi::Value AddonStream::GetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (state_ && !disposed_ && state_->dtype() == DType::kFloat64)
      CopyState<double>(info[0], info[1], true);
    else
      CopyState<float>(info[0], info[1], true);
    return env.Undefined();
  });
}

Napi::Value AddonStream::SetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (state_ && !disposed_ && state_->dtype() == DType::kFloat64)
      CopyState<double>(info[0], info[1], false);
    else
      CopyState<float>(info[0], info[1], false);
    return env.Undefined();
  });
}

Napi::Value AddonStream::Reset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    Usable(false);
    std::fill(hf_.begin(), hf_.end(), 0.0f);
    std::fill(cf_.begin(), cf_.end(), 0.0f);
    std::fill(hd_.begin(), hd_.end(), 0.0);
    std::fill(cd_.begin(), cd_.end(), 0.0);
    return env.Undefined();
  });
}

Napi::Value AddonStream::Dispose(const Napi::CallbackInfo& info) {
  disposed_ = true;
  Free();
  return info.Env().Undefined();
}

Napi::Value AddonStream::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_ || !state_);
}

Napi::Value AddonStream::GetBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(batch_));
}

}  // namespace rnnx::addon
