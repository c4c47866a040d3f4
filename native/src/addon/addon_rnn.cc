// addon_rnn.cc — RnnModule (see addon_rnn.h). All methods run on the JS thread.
#include "addon_rnn.h"

#include <cstring>
#include <limits>

#include "addon_stream.h"
#include "addon_tape.h"
#include "errors.h"
#include "forward_worker.h"

namespace rnnx::addon {

namespace {

constexpr int64_t kMaxCount = std::numeric_limits<int32_t>::max();  // seqLen, batch: 1..2^31-1

/// [seqLen, batch, a, b] or [batch, seqLen, a, b] when batch_first.
Shape SequenceShape(const rnnx::RnnConfig& c, int64_t T, int64_t B, Shape::Dim a, Shape::Dim b = {nullptr, 0}) {
  Shape::Dim t{"seqLen", T}, bb{"batch", B};
  if (b.name == nullptr) return c.batch_first ? Shape{bb, t, a} : Shape{t, bb, a};
  return c.batch_first ? Shape{bb, t, a, b} : Shape{t, bb, a, b};
}

/// For non-LSTM models, a cell-state argument must be null/undefined.
void RequireNoCellState(Napi::Value v, const char* name) {
  if (!IsNullish(v))
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, "null (only LSTM models have a cell state)", v);
}

struct BackwardFields {
  Napi::Value gy, ghn, gcn, dx, dh0, dc0, dw, accumulate, dh_steps;
};

BackwardFields ReadBackwardFields(Napi::Value args) {
  Napi::Object o = RequireObject(args, "args");
  BackwardFields f;
  f.gy = GetField(o, "gy");
  f.ghn = GetField(o, "ghn");
  f.gcn = GetField(o, "gcn");
  f.dx = GetField(o, "dx");
  f.dh0 = GetField(o, "dh0");
  f.dc0 = GetField(o, "dc0");
  f.dw = GetField(o, "dw");
  f.accumulate = GetField(o, "accumulate");
  f.dh_steps = GetField(o, "dhSteps");
  return f;
}

}  // namespace

// ---- argument conversion ----------------------------------------------------------------------

ForwardFields ReadForwardFields(Napi::Value args) {
  Napi::Object o = RequireObject(args, "args");
  ForwardFields f;
  f.seq_len = GetField(o, "seqLen");
  f.batch = GetField(o, "batch");
  f.x = GetField(o, "x");
  f.h0 = GetField(o, "h0");
  f.c0 = GetField(o, "c0");
  f.lengths = GetField(o, "lengths");
  f.y = GetField(o, "y");
  f.hn = GetField(o, "hn");
  f.cn = GetField(o, "cn");
  f.requires_grad = GetField(o, "requiresGrad");
  return f;
}

template <typename T>
std::unique_ptr<ForwardBaton<T>> PrepareForward(ModuleState& st, const ForwardFields& f,
                                                std::vector<napi_value>* arrays) {
  const rnnx::RnnConfig& c = st.config();
  const Dims& d = st.dims();
  auto b = std::make_unique<ForwardBaton<T>>();
  const int64_t T_ = ToInteger(f.seq_len, "seqLen", 1, kMaxCount, "a positive integer (at most 2^31 - 1)");
  const int64_t B = ToInteger(f.batch, "batch", 1, kMaxCount, "a positive integer (at most 2^31 - 1)");
  b->requires_grad = ToBool(f.requires_grad, "requiresGrad", true, false);
  rnnx::ForwardArgs<T>& a = b->args;
  a.seq_len = T_;
  a.batch = B;
  const Shape state_shape{{"numLayers", d.L}, {"dirs", d.D}, {"batch", B}, {"stateSize", d.R}};
  const Shape cell_shape{{"numLayers", d.L}, {"dirs", d.D}, {"batch", B}, {"hiddenSize", d.H}};
  a.x = CheckArray<T>(f.x, "x", SequenceShape(c, T_, B, {"inputSize", d.I}));
  // (null without a tape: no per-step outputs, the caller takes the final state)
  a.y = CheckArray<T>(f.y, "y", SequenceShape(c, T_, B, {"dirs", d.D}, {"stateSize", d.R}), !b->requires_grad);
  a.h0 = CheckArray<T>(f.h0, "h0", state_shape, true);
  a.hn = CheckArray<T>(f.hn, "hn", state_shape, true);
  if (d.lstm) {
    a.c0 = CheckArray<T>(f.c0, "c0", cell_shape, true);
    a.cn = CheckArray<T>(f.cn, "cn", cell_shape, true);
  } else {
    RequireNoCellState(f.c0, "c0");
    RequireNoCellState(f.cn, "cn");
  }
  const int32_t* lengths = CheckArray<int32_t>(f.lengths, "lengths", Shape{{"batch", B}}, true);
  if (lengths) {
    b->lengths.assign(lengths, lengths + B);
    a.lengths = b->lengths.data();
  }
  st.rnn<T>().check_call(T_, B, a.lengths);  // lengths in 1..seqLen, size limits
  if (arrays) {
    for (Napi::Value v : {f.x, f.y, f.h0, f.hn, f.c0, f.cn, f.lengths})
      if (!v.IsEmpty() && v.IsTypedArray()) arrays->push_back(v);
  }
  return b;
}

template std::unique_ptr<ForwardBaton<float>> PrepareForward<float>(ModuleState&, const ForwardFields&,
                                                                    std::vector<napi_value>*);
template std::unique_ptr<ForwardBaton<double>> PrepareForward<double>(ModuleState&, const ForwardFields&,
                                                                      std::vector<napi_value>*);

// ---- class --------------------------------------------------------------------------------

Napi::Function AddonRnn::Define(Napi::Env env) {
  using W = AddonRnn;
  return DefineCheckedClass<W>(env, "RnnModule",
                               {
                                   CheckedMethod<W, &W::ParamSpecs>(env, "paramSpecs"),
                                   CheckedGetter<W, &W::GetParamCount>("paramCount"),
                                   CheckedMethod<W, &W::GetWeights>(env, "getWeights"),
                                   CheckedMethod<W, &W::SetWeights>(env, "setWeights"),
                                   CheckedMethod<W, &W::SetPrecision>(env, "setPrecision"),
                                   CheckedGetter<W, &W::GetPrecision>("precision"),
                                   CheckedMethod<W, &W::Forward>(env, "forward"),
                                   CheckedMethod<W, &W::ForwardAsync>(env, "forwardAsync"),
                                   CheckedMethod<W, &W::Backward>(env, "backward"),
                                   CheckedMethod<W, &W::CreateStream>(env, "createStream"),
                                   CheckedMethod<W, &W::Dispose>(env, "dispose"),
                                   CheckedGetter<W, &W::GetDisposed>("disposed"),
                                   CheckedGetter<W, &W::GetBusy>("busy"),
                                   CheckedGetter<W, &W::GetNativeBytes>("nativeBytes"),
                               });
}

AddonRnn::AddonRnn(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonRnn>(info) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    AddonData& data = GetAddonData(env);
    ConfigResult cr = ReadConfig(info[0]);  // may run getters; copies everything
    // No JS runs from here on until the weights are copied.
    const std::vector<rnnx::ParamSpec> specs = rnnx::param_specs(cr.cfg);  // validates the config
    const int64_t count = specs.empty() ? 0 : specs.back().offset + specs.back().size;
    const Shape shape{{"paramCount", count}};
    const void* w = cr.dtype == DType::kFloat32 ? static_cast<const void*>(CheckArray<float>(info[1], "weights", shape))
                                                : static_cast<const void*>(CheckArray<double>(info[1], "weights", shape));
    state_ = std::make_shared<ModuleState>(env, cr.cfg, cr.dtype, w, count);
    info.This().As<Napi::Object>().TypeTag(&data.rnn_tag);
  });
}

ModuleState& AddonRnn::Usable(bool check_busy) const {
  if (!state_) ThrowModuleDisposed();
  state_->RequireUsable(check_busy);
  return *state_;
}

Napi::Value AddonRnn::ParamSpecs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    ModuleState& st = Usable(false);
    // A copy: setting properties below could run setters a user put on Object.prototype, which
    // could dispose this module and free the Rnn's own list.
    const std::vector<rnnx::ParamSpec> specs =
        st.dtype() == DType::kFloat32 ? st.rnn<float>().params() : st.rnn<double>().params();
    Napi::Array out = Napi::Array::New(env, specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const rnnx::ParamSpec& p = specs[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", Napi::String::New(env, p.name));
      Napi::Array shape = Napi::Array::New(env, p.cols > 0 ? 2 : 1);
      shape.Set(uint32_t(0), Napi::Number::New(env, static_cast<double>(p.rows)));
      if (p.cols > 0) shape.Set(uint32_t(1), Napi::Number::New(env, static_cast<double>(p.cols)));
      o.Set("shape", shape);
      o.Set("offset", Napi::Number::New(env, static_cast<double>(p.offset)));
      o.Set("size", Napi::Number::New(env, static_cast<double>(p.size)));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  });
}

Napi::Value AddonRnn::GetParamCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    ModuleState& st = Usable(false);
    const int64_t n = st.dtype() == DType::kFloat32 ? st.rnn<float>().param_count() : st.rnn<double>().param_count();
    return Napi::Number::New(env, static_cast<double>(n));
  });
}

Napi::Value AddonRnn::GetWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    // Reading the weights while an async forward reads them too is safe: allowed while busy.
    ModuleState& st = Usable(false);
    if (st.dtype() == DType::kFloat32) {
      const rnnx::Rnn<float>& r = st.rnn<float>();
      float* out = CheckArray<float>(info[0], "out", Shape{{"paramCount", r.param_count()}});
      std::memcpy(out, r.weights(), sizeof(float) * r.param_count());
    } else {
      const rnnx::Rnn<double>& r = st.rnn<double>();
      double* out = CheckArray<double>(info[0], "out", Shape{{"paramCount", r.param_count()}});
      std::memcpy(out, r.weights(), sizeof(double) * r.param_count());
    }
    return env.Undefined();
  });
}

Napi::Value AddonRnn::SetWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    ModuleState& st = Usable(true);
    if (st.dtype() == DType::kFloat32) {
      rnnx::Rnn<float>& r = st.rnn<float>();
      r.set_weights(CheckArray<float>(info[0], "weights", Shape{{"paramCount", r.param_count()}}), r.param_count());
    } else {
      rnnx::Rnn<double>& r = st.rnn<double>();
      r.set_weights(CheckArray<double>(info[0], "weights", Shape{{"paramCount", r.param_count()}}), r.param_count());
    }
    return env.Undefined();
  });
}

Napi::Value AddonRnn::SetPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    ModuleState& st = Usable(true);
    const char* expected = "'float32', 'bf16' or 'int8'";
    const std::string p = ToString(info[0], "precision", expected);
    rnnx::Precision v;
    if (p == "float32")
      v = rnnx::Precision::kFloat32;
    else if (p == "bf16")
      v = rnnx::Precision::kBf16;
    else if (p == "int8")
      v = rnnx::Precision::kInt8;
    else
      ThrowExpected(Code::kInvalidArgument, JsKind::kRangeError, "precision", expected, info[0]);
    if (st.dtype() == DType::kFloat32)
      st.rnn<float>().set_precision(v);
    else
      st.rnn<double>().set_precision(v);
    return env.Undefined();
  });
}

Napi::Value AddonRnn::GetPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    ModuleState& st = Usable(false);
    const rnnx::Precision p = st.dtype() == DType::kFloat32 ? st.rnn<float>().precision() : st.rnn<double>().precision();
    const char* names[] = {"float32", "bf16", "int8"};
    return Napi::String::New(env, names[static_cast<int>(p)]);
  });
}

// ---- forward ------------------------------------------------------------------------------

template <typename T>
Napi::Value AddonRnn::ForwardSync(Napi::Env env, const ForwardFields& f) {
  ModuleState& st = Usable(true);  // again: a getter may have disposed us or started async work
  std::unique_ptr<ForwardBaton<T>> b = PrepareForward<T>(st, f, nullptr);
  std::unique_ptr<rnnx::Tape<T>> tape;
  if (b->requires_grad) {
    tape = st.TakeTape<T>();
    tape->valid = false;
  }
  try {
    st.rnn<T>().forward(b->args, tape.get());
  } catch (...) {
    st.ReturnTape(std::move(tape));
    throw;
  }
  st.SyncMemory();  // the workspace may have grown
  if (!tape) return env.Undefined();
  return AddonTape::Create<T>(env, state_, std::move(tape));
}

Napi::Value AddonRnn::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    Usable(true);
    const ForwardFields f = ReadForwardFields(info[0]);
    if (Usable(true).dtype() == DType::kFloat32) return ForwardSync<float>(env, f);
    return ForwardSync<double>(env, f);
  });
}

template <typename T>
void AddonRnn::QueueForward(Napi::Env env, Napi::Object self, const ForwardFields& f,
                            Napi::Promise::Deferred deferred) {
  ModuleState& st = Usable(true);
  std::vector<napi_value> arrays;
  std::unique_ptr<ForwardBaton<T>> b = PrepareForward<T>(st, f, &arrays);
  std::unique_ptr<rnnx::Tape<T>> tape;
  if (b->requires_grad) tape = st.TakeTape<T>();
  auto* worker = new ForwardWorker<T>(env, deferred, self, state_, std::move(b), std::move(tape), arrays);
  try {
    worker->Queue();
  } catch (...) {
    delete worker;  // clears busy, returns the tape
    throw;
  }
}

Napi::Value AddonRnn::ForwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    Guard(env, [&] {
      Usable(true);
      const ForwardFields f = ReadForwardFields(info[0]);
      Napi::Object self = info.This().As<Napi::Object>();
      if (Usable(true).dtype() == DType::kFloat32)
        QueueForward<float>(env, self, f, deferred);
      else
        QueueForward<double>(env, self, f, deferred);
    });
  } catch (const Napi::Error& e) {
    // Every failure of an async call is a rejection, never a synchronous throw.
    deferred.Reject(e.Value());
  }
  return deferred.Promise();
}

// ---- backward -----------------------------------------------------------------------------

Napi::Value AddonRnn::Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    Usable(true);
    const BackwardFields f = ReadBackwardFields(info[1]);  // may run getters
    ModuleState& st = Usable(true);
    AddonTape& tape = AddonTape::FromArg(env, info[0]);
    if (tape.released())
      throw ArgError(Code::kDisposed, JsKind::kError,
                     "tape: the tape was released; run forward(..., requiresGrad: true) again");
    if (tape.owner() != &st)
      ThrowExpectedText(Code::kInvalidArgument, JsKind::kTypeError, "tape",
                        "a tape returned by forward(..., requiresGrad) of this module", "a tape of another module");
    const Dims& d = st.dims();
    const rnnx::RnnConfig& c = st.config();
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const rnnx::Tape<T>& tp = tape.tape<T>();
      const int64_t T_ = tp.seq_len, B = tp.batch;
      const Shape state_shape{{"numLayers", d.L}, {"dirs", d.D}, {"batch", B}, {"stateSize", d.R}};
      const Shape cell_shape{{"numLayers", d.L}, {"dirs", d.D}, {"batch", B}, {"hiddenSize", d.H}};
      rnnx::Rnn<T>& rnn = st.rnn<T>();
      rnnx::BackwardArgs<T> a;
      a.gy = CheckArray<T>(f.gy, "gy", SequenceShape(c, T_, B, {"dirs", d.D}, {"stateSize", d.R}), true);
      a.ghn = CheckArray<T>(f.ghn, "ghn", state_shape, true);
      a.dx = CheckArray<T>(f.dx, "dx", SequenceShape(c, T_, B, {"inputSize", d.I}));
      a.dh0 = CheckArray<T>(f.dh0, "dh0", state_shape, true);
      if (d.lstm) {
        a.gcn = CheckArray<T>(f.gcn, "gcn", cell_shape, true);
        a.dc0 = CheckArray<T>(f.dc0, "dc0", cell_shape, true);
      } else {
        RequireNoCellState(f.gcn, "gcn");
        RequireNoCellState(f.dc0, "dc0");
      }
      a.dw = CheckArray<T>(f.dw, "dw", Shape{{"paramCount", rnn.param_count()}});
      a.accumulate_dw = ToBool(f.accumulate, "accumulate", true, false);
      a.dh_steps = CheckArray<T>(
          f.dh_steps, "dhSteps",
          Shape{{"numLayers*dirs", d.L * d.D}, {"seqLen", T_}, {"batch", B}, {"stateSize", d.R}}, true);
      rnn.backward(tp, a);
      st.SyncMemory();  // the backward workspace may have grown
    };
    if (st.dtype() == DType::kFloat32)
      run(float());
    else
      run(double());
    return env.Undefined();
  });
}

// ---- streams and lifetime -----------------------------------------------------------------

Napi::Value AddonRnn::CreateStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    ModuleState& st = Usable(false);
    const int64_t batch = ToInteger(info[0], "batch", 1, kMaxCount, "a positive integer (at most 2^31 - 1)");
    if (st.config().bidirectional)
      throw ArgError(Code::kInvalidArgument, JsKind::kTypeError,
                     "stream: bidirectional models cannot be streamed (the reverse direction needs the whole "
                     "sequence)");
    return AddonStream::Create(env, state_, batch);
  });
}

Napi::Value AddonRnn::Dispose(const Napi::CallbackInfo& info) {
  if (state_) {
    state_->MarkDisposed();  // frees now, or when the async call in flight settles
    state_.reset();
  }
  return info.Env().Undefined();
}

Napi::Value AddonRnn::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !state_ || state_->disposed());
}

Napi::Value AddonRnn::GetBusy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_ && state_->busy.load(std::memory_order_acquire));
}

Napi::Value AddonRnn::GetNativeBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), state_ ? static_cast<double>(state_->reported_bytes()) : 0.0);
}

}  // namespace rnnx::addon
