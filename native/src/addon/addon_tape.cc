// addon_tape.cc — NativeTape (see addon_tape.h).
#include "addon_tape.h"

#include "errors.h"

namespace rnnx::addon {

Napi::Function AddonTape::Define(Napi::Env env) {
  using W = AddonTape;
  return DefineCheckedClass<W>(env, "NativeTape",
                               {
                                   CheckedMethod<W, &W::ReleaseMethod>(env, "release"),
                                   CheckedGetter<W, &W::GetReleased>("released"),
                               });
}

AddonTape::AddonTape(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonTape>(info), memory_(info.Env()) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    AddonData& data = GetAddonData(env);
    // Only Create() may construct a tape: it passes the instance data as an External token.
    if (info.Length() < 1 || !info[0].IsExternal() || info[0].As<Napi::External<AddonData>>().Data() != &data)
      throw ArgError(Code::kInvalidArgument, JsKind::kTypeError,
                     "NativeTape cannot be constructed directly; use forward(..., requiresGrad: true)");
    info.This().As<Napi::Object>().TypeTag(&data.tape_tag);
  });
}

AddonTape::~AddonTape() { Release(); }

template <typename T>
Napi::Object AddonTape::Create(Napi::Env env, std::shared_ptr<ModuleState> state, std::unique_ptr<rnnx::Tape<T>> tape) {
  AddonData& data = GetAddonData(env);
  Napi::Object obj;
  try {
    obj = data.tape_ctor.New({Napi::External<AddonData>::New(env, &data)});
  } catch (...) {
    state->ReturnTape(std::move(tape));
    throw;
  }
  AddonTape* self = Napi::ObjectWrap<AddonTape>::Unwrap(obj);
  self->live_ = std::make_unique<LiveToken>();
  const int64_t bytes = TapeBytes(*tape);
  if constexpr (std::is_same_v<T, float>)
    self->f32_ = std::move(tape);
  else
    self->f64_ = std::move(tape);
  self->state_ = std::move(state);
  self->memory_.Set(bytes);
  return obj;
}
template Napi::Object AddonTape::Create<float>(Napi::Env, std::shared_ptr<ModuleState>,
                                               std::unique_ptr<rnnx::Tape<float>>);
template Napi::Object AddonTape::Create<double>(Napi::Env, std::shared_ptr<ModuleState>,
                                                std::unique_ptr<rnnx::Tape<double>>);

AddonTape& AddonTape::FromArg(Napi::Env env, Napi::Value v) {
  AddonData& data = GetAddonData(env);
  if (v.IsEmpty() || !v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&data.tape_tag))
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "tape",
                  "a tape returned by forward(..., requiresGrad) of this module", v);
  AddonTape* self = Napi::ObjectWrap<AddonTape>::Unwrap(v.As<Napi::Object>());
  if (self == nullptr)
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "tape",
                  "a tape returned by forward(..., requiresGrad) of this module", v);
  return *self;
}

void AddonTape::Release() noexcept {
  if (!state_) return;
  memory_.Set(0);
  // The pool reports the bytes it takes over (ReturnTape → SyncMemory).
  state_->ReturnTape(std::move(f32_));
  state_->ReturnTape(std::move(f64_));
  f32_.reset();
  f64_.reset();
  state_.reset();
  live_.reset();
}

Napi::Value AddonTape::ReleaseMethod(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value AddonTape::GetReleased(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), released());
}

}  // namespace rnnx::addon
