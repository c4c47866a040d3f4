// addon_model.cc — ModelModule: the JS class over rnnx::SeqModel<float|double> (lib/native/types.ts,
// NativeModel, has the exact JS shape).
//
// Every input is copied into plain C++ vectors on the JS thread before any work starts, and every
// output is produced into native vectors and copied into fresh TypedArrays when the call settles:
// the inputs of one batch are small next to its compute, and no JS object is ever read from a
// worker thread. One call at a time per model (RNNX_BUSY otherwise); dispose() during an async
// call frees the model when the call settles.
#include <atomic>
#include <cstring>
#include <type_traits>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "addon_data.h"
#include "checked_this.h"
#include "convert.h"
#include "errors.h"
#include "rnnx/model.h"

namespace rnnx::addon {
namespace {

struct ModelState {
  DType dtype = DType::kFloat32;
  std::unique_ptr<rnnx::SeqModel<float>> f32;
  std::unique_ptr<rnnx::SeqModel<double>> f64;
  std::atomic<bool> busy{false};
  bool disposed = false;
  ExternalMemory memory;
  std::unique_ptr<LiveToken> live{new LiveToken()};  // counted until the native model is freed
  explicit ModelState(napi_env env) : memory(env) {}
  void Release() noexcept {
    f32.reset();
    f64.reset();
    memory.Set(0);
    live.reset();
  }
  void Sync() noexcept {
    if (busy.load()) return;
    try {
      memory.Set(f32 ? f32->native_bytes() : f64 ? f64->native_bytes() : 0);
    } catch (...) {
    }
  }
};

template <typename T>
rnnx::SeqModel<T>& Get(ModelState& s);
template <>
rnnx::SeqModel<float>& Get<float>(ModelState& s) {
  return *s.f32;
}
template <>
rnnx::SeqModel<double>& Get<double>(ModelState& s) {
  return *s.f64;
}

// A batch, copied.
template <typename T>
struct BatchData {
  int64_t batch = 0, seq_len = 0;
  std::vector<int32_t> ids, lengths;
  std::vector<T> features, state_in;
  bool want_state = false;
  std::vector<T> state_out;
  rnnx::ModelBatch<T> view() {
    rnnx::ModelBatch<T> b;
    b.batch = batch;
    b.seq_len = seq_len;
    b.ids = ids.empty() ? nullptr : ids.data();
    b.features = features.empty() ? nullptr : features.data();
    b.lengths = lengths.empty() ? nullptr : lengths.data();
    b.state_in = state_in.empty() ? nullptr : state_in.data();
    b.state_out = want_state ? state_out.data() : nullptr;
    return b;
  }
};

template <typename T>
struct LossData {
  rnnx::LossKind kind = rnnx::LossKind::kCrossEntropy;
  std::vector<int32_t> classes;
  std::vector<T> values;
  double smoothing = 0;
};

template <typename T>
std::vector<T> CopyArray(Napi::Value v, const std::string& name, const Shape& shape, bool nullable) {
  const T* p = CheckArray<T>(v, name, shape, nullable);
  if (!p) return {};
  return std::vector<T>(p, p + shape.elements());
}

template <typename T>
BatchData<T> ReadBatch(rnnx::SeqModel<T>& m, Napi::Value v) {
  Napi::Object o = RequireObject(v, "batch");
  BatchData<T> d;
  d.batch = ToInteger(GetField(o, "batch"), "batch.batch", 1, int64_t(1) << 24, "an integer in 1..2^24");
  d.seq_len = ToInteger(GetField(o, "seqLen"), "batch.seqLen", 1, int64_t(1) << 24, "an integer in 1..2^24");
  const auto& spec = m.spec();
  if (spec.ids_input) {
    d.ids = CopyArray<int32_t>(GetField(o, "ids"), "batch.ids", Shape{{"batch", d.batch}, {"seqLen", d.seq_len}}, false);
  } else {
    d.features = CopyArray<T>(GetField(o, "features"), "batch.features",
                              Shape{{"batch", d.batch}, {"seqLen", d.seq_len}, {"features", spec.feature_size}}, false);
  }
  d.lengths = CopyArray<int32_t>(GetField(o, "lengths"), "batch.lengths", Shape{{"batch", d.batch}}, true);
  const int64_t ss = m.state_size(d.batch);
  d.state_in = CopyArray<T>(GetField(o, "stateIn"), "batch.stateIn", Shape{{"stateSize", ss}}, true);
  d.want_state = ToBool(GetField(o, "wantState"), "batch.wantState", true, false);
  if (d.want_state) d.state_out.assign(static_cast<size_t>(ss), T(0));
  return d;
}

template <typename T>
LossData<T> ReadLoss(rnnx::SeqModel<T>& m, const BatchData<T>& b, Napi::Value v) {
  Napi::Object o = RequireObject(v, "loss");
  LossData<T> l;
  std::string kind = ToString(GetField(o, "kind"), "loss.kind", "'crossEntropy' or 'mse'");
  if (kind == "crossEntropy")
    l.kind = rnnx::LossKind::kCrossEntropy;
  else if (kind == "mse")
    l.kind = rnnx::LossKind::kMse;
  else
    ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "loss.kind", "'crossEntropy' or 'mse'", "'" + kind + "'");
  l.smoothing = ToNumber(GetField(o, "labelSmoothing"), "loss.labelSmoothing", 0, 0.999999, "a number in [0, 1)");
  const int64_t rows = m.per_step() ? b.batch * b.seq_len : b.batch;
  if (l.kind == rnnx::LossKind::kCrossEntropy) {
    l.classes = CopyArray<int32_t>(GetField(o, "classTargets"), "loss.classTargets",
                                   m.per_step() ? Shape{{"batch", b.batch}, {"seqLen", b.seq_len}} : Shape{{"batch", b.batch}},
                                   false);
  } else {
    l.values = CopyArray<T>(GetField(o, "valueTargets"), "loss.valueTargets",
                            Shape{{"rows", rows}, {"outputSize", m.output_size()}}, false);
  }
  return l;
}

rnnx::OptimConfig ReadOptim(Napi::Value v) {
  Napi::Object o = RequireObject(v, "optimizer");
  rnnx::OptimConfig c;
  std::string kind = ToString(GetField(o, "kind"), "optimizer.kind", "'sgd', 'adam' or 'adamw'");
  if (kind == "sgd")
    c.kind = rnnx::OptimKind::kSgd;
  else if (kind == "adam")
    c.kind = rnnx::OptimKind::kAdam;
  else if (kind == "adamw")
    c.kind = rnnx::OptimKind::kAdamW;
  else
    ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "optimizer.kind", "'sgd', 'adam' or 'adamw'",
                      "'" + kind + "'");
  const double big = 1e30;
  c.lr = ToNumber(GetField(o, "lr"), "optimizer.lr", 0, big, "a finite number >= 0");
  c.momentum = ToNumber(GetField(o, "momentum"), "optimizer.momentum", 0, 0.999999, "a number in [0, 1)");
  c.nesterov = ToBool(GetField(o, "nesterov"), "optimizer.nesterov", true, false);
  c.beta1 = ToNumber(GetField(o, "beta1"), "optimizer.beta1", 0, 0.999999, "a number in [0, 1)");
  c.beta2 = ToNumber(GetField(o, "beta2"), "optimizer.beta2", 0, 0.999999999, "a number in [0, 1)");
  c.eps = ToNumber(GetField(o, "eps"), "optimizer.eps", 1e-30, 1, "a number in (0, 1]");
  c.weight_decay = ToNumber(GetField(o, "weightDecay"), "optimizer.weightDecay", 0, big, "a finite number >= 0");
  c.clip_norm = ToNumber(GetField(o, "clipNorm"), "optimizer.clipNorm", 0, big, "a finite number >= 0 (0 = off)");
  c.clip_value = ToNumber(GetField(o, "clipValue"), "optimizer.clipValue", 0, big, "a finite number >= 0 (0 = off)");
  Napi::Value ema = GetField(o, "ema");
  if (!IsNullish(ema)) c.ema = ToNumber(ema, "optimizer.ema", 0, 0.999999999, "a decay in [0, 1) (0 = off)");
  return c;
}

rnnx::ModelSpec ReadSpec(Napi::Value v, DType* dtype) {
  Napi::Object o = RequireObject(v, "spec");
  rnnx::ModelSpec s;
  std::string dt = ToString(GetField(o, "dtype"), "spec.dtype", "'float32' or 'float64'");
  if (dt == "float32")
    *dtype = DType::kFloat32;
  else if (dt == "float64")
    *dtype = DType::kFloat64;
  else
    ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "spec.dtype", "'float32' or 'float64'", "'" + dt + "'");
  Napi::Object in = RequireObject(GetField(o, "input"), "spec.input");
  std::string it = ToString(GetField(in, "type"), "spec.input.type", "'ids' or 'features'");
  if (it == "ids") {
    s.ids_input = true;
  } else if (it == "features") {
    s.ids_input = false;
    s.feature_size = ToInteger(GetField(in, "size"), "spec.input.size", 1, int64_t(1) << 24, "an integer in 1..2^24");
  } else {
    ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "spec.input.type", "'ids' or 'features'", "'" + it + "'");
  }
  Napi::Value lv = GetField(o, "layers");
  if (lv.IsEmpty() || !lv.IsArray()) ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "spec.layers", "an array", lv);
  Napi::Array arr = lv.As<Napi::Array>();
  const uint32_t n = arr.Length();
  if (n == 0 || n > 4096)
    ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "spec.layers", "1..4096 layers", std::to_string(n));
  for (uint32_t i = 0; i < n; ++i) {
    const std::string p = "spec.layers[" + std::to_string(i) + "]";
    Napi::Object L = RequireObject(arr.Get(i), p);
    rnnx::LayerSpec ls;
    std::string type = ToString(GetField(L, "type"), p + ".type", "a layer type");
    Napi::Value nm = GetField(L, "name");
    if (!IsNullish(nm)) ls.name = ToString(nm, p + ".name", "a string");
    if (type == "embedding") {
      ls.type = rnnx::LayerType::kEmbedding;
      ls.num_embeddings = ToInteger(GetField(L, "numEmbeddings"), p + ".numEmbeddings", 1, (int64_t(1) << 31) - 1, "a positive integer");
      ls.embedding_dim = ToInteger(GetField(L, "embeddingDim"), p + ".embeddingDim", 1, int64_t(1) << 24, "an integer in 1..2^24");
      ls.padding_idx = ToInteger(GetField(L, "paddingIdx"), p + ".paddingIdx", -1, (int64_t(1) << 31) - 1, "-1 or a token id");
    } else if (type == "dropout") {
      ls.type = rnnx::LayerType::kDropout;
      ls.p = ToNumber(GetField(L, "p"), p + ".p", 0, 0.999999, "a number in [0, 1)");
    } else if (type == "recurrent") {
      ls.type = rnnx::LayerType::kRecurrent;
      ConfigResult cr = ReadConfig(GetField(L, "rnn"));
      if (cr.dtype != *dtype)
        ThrowExpectedText(Code::kInvalidArgument, JsKind::kTypeError, p + ".rnn.dtype", DTypeName(*dtype), DTypeName(cr.dtype));
      ls.rnn = cr.cfg;
      ls.p = ToNumber(GetField(L, "dropout"), p + ".dropout", 0, 0.999999, "a number in [0, 1)");
    } else if (type == "pool") {
      ls.type = rnnx::LayerType::kPool;
      std::string m = ToString(GetField(L, "mode"), p + ".mode", "'last', 'mean', 'max' or 'meanmax'");
      if (m == "last") ls.pool = rnnx::PoolMode::kLast;
      else if (m == "mean") ls.pool = rnnx::PoolMode::kMean;
      else if (m == "max") ls.pool = rnnx::PoolMode::kMax;
      else if (m == "meanmax") ls.pool = rnnx::PoolMode::kMeanMax;
      else ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, p + ".mode", "'last', 'mean', 'max' or 'meanmax'", "'" + m + "'");
    } else if (type == "dense") {
      ls.type = rnnx::LayerType::kDense;
      ls.in_features = ToInteger(GetField(L, "inFeatures"), p + ".inFeatures", 1, int64_t(1) << 24, "an integer in 1..2^24");
      ls.out_features = ToInteger(GetField(L, "outFeatures"), p + ".outFeatures", 1, int64_t(1) << 24, "an integer in 1..2^24");
      std::string a = ToString(GetField(L, "activation"), p + ".activation", "'none', 'relu', 'tanh' or 'sigmoid'");
      if (a == "none") ls.act = rnnx::DenseAct::kNone;
      else if (a == "relu") ls.act = rnnx::DenseAct::kRelu;
      else if (a == "tanh") ls.act = rnnx::DenseAct::kTanh;
      else if (a == "sigmoid") ls.act = rnnx::DenseAct::kSigmoid;
      else ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, p + ".activation", "'none', 'relu', 'tanh' or 'sigmoid'", "'" + a + "'");
      ls.bias = ToBool(GetField(L, "bias"), p + ".bias", true, true);
    } else if (type == "softmax") {
      ls.type = rnnx::LayerType::kSoftmax;
    } else {
      ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, p + ".type",
                        "'embedding', 'dropout', 'recurrent', 'pool', 'dense' or 'softmax'", "'" + type + "'");
    }
    s.layers.push_back(std::move(ls));
  }
  return s;
}

template <typename T>
Napi::Value ToTyped(Napi::Env env, const std::vector<T>& v) {
  if constexpr (std::is_same_v<T, float>) {
    auto a = Napi::Float32Array::New(env, v.size());
    if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
    return a;
  } else {
    auto a = Napi::Float64Array::New(env, v.size());
    if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
    return a;
  }
}

/// One training step (or, with `grads`, only the gradient) on a copied batch. Any thread.
template <typename T>
rnnx::StepResult RunStep(rnnx::SeqModel<T>& m, BatchData<T>& b, const LossData<T>& l, const rnnx::OptimConfig& oc,
                         uint64_t seed, T* grads = nullptr) {
  return m.train_step(b.view(), l.kind, l.classes.empty() ? nullptr : l.classes.data(),
                      l.values.empty() ? nullptr : l.values.data(), l.smoothing, oc, seed, grads);
}

Napi::Object StepToJs(Napi::Env env, const rnnx::StepResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", Napi::Number::New(env, r.loss));
  o.Set("count", Napi::Number::New(env, static_cast<double>(r.count)));
  o.Set("correct", Napi::Number::New(env, static_cast<double>(r.correct)));
  o.Set("gradNorm", Napi::Number::New(env, r.grad_norm));
  return o;
}

// Runs `job` on a libuv worker and settles with `done(env)`.
class ModelWorker : public Napi::AsyncWorker {
 public:
  ModelWorker(Napi::Env env, Napi::Promise::Deferred d, Napi::Object self, std::shared_ptr<ModelState> st,
              std::function<void()> job, std::function<Napi::Value(Napi::Env)> done, const char* what)
      : Napi::AsyncWorker(env, what), deferred_(d), state_(std::move(st)), job_(std::move(job)), done_(std::move(done)),
        what_(what) {
    self_ = Napi::Persistent(self);
    state_->busy.store(true);
    AddAsyncInFlight(1);
  }
  ~ModelWorker() override {
    state_->busy.store(false);
    AddAsyncInFlight(-1);
    if (state_->disposed) state_->Release();
    else state_->Sync();
  }
  void Execute() override {
    try {
      job_();
    } catch (...) {
      error_ = CaptureCurrentException(what_);
      failed_ = true;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (failed_) {
        deferred_.Reject(MakeError(env, error_).Value());
        return;
      }
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      try { deferred_.Reject(e.Value()); } catch (...) {}
    } catch (...) {
      try { deferred_.Reject(MakeError(env, CaptureCurrentException(what_)).Value()); } catch (...) {}
    }
  }
  void OnError(const Napi::Error& e) override {
    try { deferred_.Reject(e.Value()); } catch (...) {}
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  std::shared_ptr<ModelState> state_;
  std::function<void()> job_;
  std::function<Napi::Value(Napi::Env)> done_;
  const char* what_;
  CapturedError error_;
  bool failed_ = false;
};

}  // namespace

class AddonModel : public Napi::ObjectWrap<AddonModel> {
 public:
  static const napi_type_tag& Tag(const AddonData& d) noexcept { return d.model_tag; }
  static constexpr const char* kWhat = "a ModelModule";

  static Napi::Function Define(Napi::Env env) {
    using W = AddonModel;
    return DefineCheckedClass<W>(env, "ModelModule",
                                 {
                                     CheckedMethod<W, &W::Params>(env, "params"),
                                     CheckedGetter<W, &W::ParamCount>("paramCount"),
                                     CheckedGetter<W, &W::OutputSize>("outputSize"),
                                     CheckedGetter<W, &W::PerStep>("perStep"),
                                     CheckedMethod<W, &W::StateSize>(env, "stateSize"),
                                     CheckedMethod<W, &W::GetParams>(env, "getParams"),
                                     CheckedMethod<W, &W::SetParams>(env, "setParams"),
                                     CheckedMethod<W, &W::Forward>(env, "forward"),
                                     CheckedMethod<W, &W::ForwardAsync>(env, "forwardAsync"),
                                     CheckedMethod<W, &W::EvaluateAsync>(env, "evaluateAsync"),
                                     CheckedMethod<W, &W::TrainStep>(env, "trainStep"),
                                     CheckedMethod<W, &W::TrainStepAsync>(env, "trainStepAsync"),
                                     CheckedMethod<W, &W::Gradients>(env, "gradients"),
                                     CheckedMethod<W, &W::GetOptimState>(env, "getOptimState"),
                                     CheckedMethod<W, &W::GetEma>(env, "getEma"),
                                     CheckedMethod<W, &W::SetEma>(env, "setEma"),
                                     CheckedMethod<W, &W::SetOptimState>(env, "setOptimState"),
                                     CheckedMethod<W, &W::Dispose>(env, "dispose"),
                                     CheckedGetter<W, &W::Disposed>("disposed"),
                                     CheckedGetter<W, &W::Busy>("busy"),
                                     CheckedGetter<W, &W::NativeBytes>("nativeBytes"),
                                 });
  }

  explicit AddonModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonModel>(info) {
    Napi::Env env = info.Env();
    Guard(env, [&] {
      AddonData& data = GetAddonData(env);
      DType dt;
      rnnx::ModelSpec spec = ReadSpec(info[0], &dt);
      auto st = std::make_shared<ModelState>(env);
      st->dtype = dt;
      if (dt == DType::kFloat32) Build<float>(*st, spec, info[1]);
      else Build<double>(*st, spec, info[1]);
      state_ = st;
      state_->Sync();
      info.This().As<Napi::Object>().TypeTag(&data.model_tag);
    });
  }

 private:
  template <typename T>
  static void Build(ModelState& st, const rnnx::ModelSpec& spec, Napi::Value params) {
    std::unique_ptr<rnnx::SeqModel<T>> m(new rnnx::SeqModel<T>(spec, nullptr, 0));  // validates; zeros
    const T* p = CheckArray<T>(params, "params", Shape{{"paramCount", m->param_count()}});
    m->set_params(p, m->param_count());
    if constexpr (std::is_same_v<T, float>) st.f32 = std::move(m);
    else st.f64 = std::move(m);
  }

  ModelState& Usable(bool check_busy) const {
    if (!state_ || state_->disposed) ThrowModuleDisposed();
    if (check_busy && state_->busy.load()) ThrowModuleBusy();
    return *state_;
  }

  template <typename F>
  Napi::Value Dispatch(F&& f) const {
    ModelState& s = Usable(true);
    if (s.dtype == DType::kFloat32) return f(Get<float>(s), float{});
    return f(Get<double>(s), double{});
  }

  /// Guard + Dispatch: runs f(model, T{}) on the usable, idle model; C++ errors become JS errors.
  template <typename F>
  Napi::Value WithModel(Napi::Env env, F&& f) const {
    return Guard(env, [&]() -> Napi::Value { return Dispatch(std::forward<F>(f)); });
  }

  /// Queues `job` on a libuv worker (the model is busy until it settles) and returns its promise.
  Napi::Value QueueJob(Napi::Env env, const Napi::CallbackInfo& info, std::function<void()> job,
                       std::function<Napi::Value(Napi::Env)> done, const char* what) const {
    Usable(true);  // argument getters may have disposed the model or started another call
    auto d = Napi::Promise::Deferred::New(env);
    auto* w = new ModelWorker(env, d, info.This().As<Napi::Object>(), state_, std::move(job), std::move(done), what);
    w->Queue();
    return d.Promise();
  }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&]() -> Napi::Value {
      ModelState& s = Usable(false);
      const auto& ps = s.f32 ? s.f32->params() : s.f64->params();
      Napi::Array a = Napi::Array::New(env, ps.size());
      for (size_t i = 0; i < ps.size(); ++i) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", ps[i].name);
        Napi::Array sh = Napi::Array::New(env, ps[i].shape.size());
        for (size_t j = 0; j < ps[i].shape.size(); ++j) sh.Set(static_cast<uint32_t>(j), Napi::Number::New(env, static_cast<double>(ps[i].shape[j])));
        o.Set("shape", sh);
        o.Set("offset", Napi::Number::New(env, static_cast<double>(ps[i].offset)));
        o.Set("size", Napi::Number::New(env, static_cast<double>(ps[i].size)));
        o.Set("decay", Napi::Boolean::New(env, ps[i].decay));
        a.Set(static_cast<uint32_t>(i), o);
      }
      return a;
    });
  }
  Napi::Value ParamCount(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      ModelState& s = Usable(false);
      return Napi::Number::New(info.Env(), static_cast<double>(s.f32 ? s.f32->param_count() : s.f64->param_count()));
    });
  }
  Napi::Value OutputSize(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      ModelState& s = Usable(false);
      return Napi::Number::New(info.Env(), static_cast<double>(s.f32 ? s.f32->output_size() : s.f64->output_size()));
    });
  }
  Napi::Value PerStep(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      ModelState& s = Usable(false);
      return Napi::Boolean::New(info.Env(), s.f32 ? s.f32->per_step() : s.f64->per_step());
    });
  }
  Napi::Value StateSize(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      ModelState& s = Usable(false);
      int64_t b = ToInteger(info[0], "batch", 1, int64_t(1) << 24, "an integer in 1..2^24");
      return Napi::Number::New(info.Env(), static_cast<double>(s.f32 ? s.f32->state_size(b) : s.f64->state_size(b)));
    });
  }
  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      std::vector<T> v(static_cast<size_t>(m.param_count()));
      m.get_params(v.data());
      return ToTyped<T>(env, v);
    });
  }
  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      const T* p = CheckArray<T>(info[0], "params", Shape{{"paramCount", m.param_count()}});
      m.set_params(p, m.param_count());
      return env.Undefined();
    });
  }

  // forward(batch) → { output, state? } (sync)
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      BatchData<T> b = ReadBatch<T>(m, info[0]);
      std::vector<T> out(static_cast<size_t>(OutRows(m, b) * m.output_size()));
      m.forward(b.view(), out.data());
      Napi::Object r = Napi::Object::New(env);
      r.Set("output", ToTyped<T>(env, out));
      if (b.want_state) r.Set("state", ToTyped<T>(env, b.state_out));
      return r;
    });
  }
  template <typename T>
  static int64_t OutRows(rnnx::SeqModel<T>& m, const BatchData<T>& b) {
    return m.per_step() ? b.batch * b.seq_len : b.batch;
  }

  Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      auto b = std::make_shared<BatchData<T>>(ReadBatch<T>(m, info[0]));
      auto out = std::make_shared<std::vector<T>>(static_cast<size_t>(OutRows(m, *b) * m.output_size()));
      auto* mp = &m;
      return QueueJob(
          env, info, [mp, b, out] { mp->forward(b->view(), out->data()); },
          [b, out](Napi::Env e) -> Napi::Value {
            Napi::Object r = Napi::Object::New(e);
            r.Set("output", ToTyped<T>(e, *out));
            if (b->want_state) r.Set("state", ToTyped<T>(e, b->state_out));
            return r;
          },
          "forwardAsync");
    });
  }

  Napi::Value EvaluateAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      auto b = std::make_shared<BatchData<T>>(ReadBatch<T>(m, info[0]));
      auto l = std::make_shared<LossData<T>>(ReadLoss<T>(m, *b, info[1]));
      auto out = std::make_shared<std::vector<T>>(static_cast<size_t>(OutRows(m, *b) * m.output_size()));
      auto res = std::make_shared<rnnx::StepResult>();
      auto* mp = &m;
      return QueueJob(
          env, info,
          [mp, b, l, out, res] {
            *res = mp->evaluate(b->view(), l->kind, l->classes.empty() ? nullptr : l->classes.data(),
                                l->values.empty() ? nullptr : l->values.data(), l->smoothing, out->data());
          },
          [out, res](Napi::Env e) -> Napi::Value {
            Napi::Object r = StepToJs(e, *res);
            r.Set("output", ToTyped<T>(e, *out));
            return r;
          },
          "evaluateAsync");
    });
  }

  template <typename T>
  static uint64_t ReadSeed(Napi::Value v) {
    return static_cast<uint64_t>(ToInteger(v, "seed", 0, (int64_t(1) << 53) - 1, "an integer in 0..2^53-1"));
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      BatchData<T> b = ReadBatch<T>(m, info[0]);
      LossData<T> l = ReadLoss<T>(m, b, info[1]);
      rnnx::OptimConfig oc = ReadOptim(info[2]);
      uint64_t seed = ReadSeed<T>(info[3]);
      Usable(true);
      rnnx::StepResult r = RunStep(m, b, l, oc, seed);
      Napi::Object o = StepToJs(env, r);
      if (b.want_state) o.Set("state", ToTyped<T>(env, b.state_out));
      state_->Sync();
      return o;
    });
  }

  Napi::Value TrainStepAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      auto b = std::make_shared<BatchData<T>>(ReadBatch<T>(m, info[0]));
      auto l = std::make_shared<LossData<T>>(ReadLoss<T>(m, *b, info[1]));
      rnnx::OptimConfig oc = ReadOptim(info[2]);
      uint64_t seed = ReadSeed<T>(info[3]);
      auto res = std::make_shared<rnnx::StepResult>();
      auto* mp = &m;
      return QueueJob(
          env, info, [mp, b, l, oc, seed, res] { *res = RunStep(*mp, *b, *l, oc, seed); },
          [b, res](Napi::Env e) -> Napi::Value {
            Napi::Object o = StepToJs(e, *res);
            if (b->want_state) o.Set("state", ToTyped<T>(e, b->state_out));
            return o;
          },
          "trainStepAsync");
    });
  }

  // gradients(batch, loss, seed) → { loss, count, correct, gradNorm, grads } — no update (gradient checks).
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      BatchData<T> b = ReadBatch<T>(m, info[0]);
      LossData<T> l = ReadLoss<T>(m, b, info[1]);
      uint64_t seed = ReadSeed<T>(info[2]);
      Usable(true);
      std::vector<T> g(static_cast<size_t>(m.param_count()));
      rnnx::OptimConfig oc;
      rnnx::StepResult r = RunStep(m, b, l, oc, seed, g.data());
      Napi::Object o = StepToJs(env, r);
      o.Set("grads", ToTyped<T>(env, g));
      return o;
    });
  }

  Napi::Value GetOptimState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      Napi::Object o = Napi::Object::New(env);
      o.Set("step", Napi::Number::New(env, static_cast<double>(m.optim_step())));
      Napi::Array slots = Napi::Array::New(env);
      for (int s = 0; s < m.optim_slots(); ++s) {
        std::vector<T> v(static_cast<size_t>(m.param_count()));
        m.get_optim_state(s, v.data());
        slots.Set(static_cast<uint32_t>(s), ToTyped<T>(env, v));
      }
      o.Set("slots", slots);
      return o;
    });
  }

  // getEma() → the parameters' moving average, or null when none is kept
  Napi::Value GetEma(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      std::vector<T> v(static_cast<size_t>(m.param_count()));
      if (!m.get_ema(v.data())) return env.Null();
      return ToTyped<T>(env, v);
    });
  }
  Napi::Value SetEma(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      const T* p = CheckArray<T>(info[0], "ema", Shape{{"paramCount", m.param_count()}});
      m.set_ema(p, m.param_count());
      return env.Undefined();
    });
  }

  // setOptimState(kind, step, slots[])
  Napi::Value SetOptimState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return WithModel(env, [&](auto& m, auto tag) -> Napi::Value {
      using T = decltype(tag);
      std::string kind = ToString(info[0], "kind", "'sgd', 'adam' or 'adamw'");
      rnnx::OptimKind k = kind == "sgd" ? rnnx::OptimKind::kSgd : kind == "adam" ? rnnx::OptimKind::kAdam
                          : kind == "adamw" ? rnnx::OptimKind::kAdamW : static_cast<rnnx::OptimKind>(-1);
      if (static_cast<int>(k) < 0)
        ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "kind", "'sgd', 'adam' or 'adamw'", "'" + kind + "'");
      int64_t step = ToInteger(info[1], "step", 0, (int64_t(1) << 53) - 1, "an integer >= 0");
      Napi::Value sv = info[2];
      if (sv.IsEmpty() || !sv.IsArray()) ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "slots", "an array", sv);
      Napi::Array arr = sv.As<Napi::Array>();
      const uint32_t want = k == rnnx::OptimKind::kSgd ? 1 : 2;
      if (arr.Length() != want)
        ThrowExpectedText(Code::kInvalidArgument, JsKind::kRangeError, "slots", std::to_string(want) + " arrays",
                          std::to_string(arr.Length()));
      std::vector<std::vector<T>> data;
      for (uint32_t i = 0; i < want; ++i)
        data.push_back(CopyArray<T>(arr.Get(i), "slots[" + std::to_string(i) + "]", Shape{{"paramCount", m.param_count()}}, false));
      Usable(true);
      for (uint32_t i = 0; i < want; ++i) m.set_optim_state(k, step, static_cast<int>(i), data[i].data(), m.param_count());
      return env.Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      if (state_ && !state_->disposed) {
        state_->disposed = true;
        if (!state_->busy.load()) state_->Release();
      }
      return info.Env().Undefined();
    });
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !state_ || state_->disposed);
  }
  Napi::Value Busy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), state_ && state_->busy.load());
  }
  Napi::Value NativeBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), state_ ? static_cast<double>(state_->memory.bytes()) : 0);
  }

  std::shared_ptr<ModelState> state_;
};

Napi::Function DefineModelModule(Napi::Env env) { return AddonModel::Define(env); }

}  // namespace rnnx::addon
