// convert.cc — checked conversions from JS values (see convert.h for the rules).
#include "convert.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace rnnx::addon {

namespace {

const char* TypedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

std::string FormatNumber(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  if (d == std::trunc(d) && std::fabs(d) < 1e16)
    std::snprintf(buf, sizeof buf, "%.0f", d);
  else
    std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string Elements(size_t n) { return std::to_string(n) + (n == 1 ? " element" : " elements"); }

struct RawTypedArray {
  napi_typedarray_type type = napi_float32_array;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
};

// napi_get_typedarray_info, throwing a Napi::Error if N-API itself fails.
RawTypedArray TypedArrayInfo(Napi::Value v) {
  RawTypedArray r;
  size_t byte_offset = 0;
  napi_status s = napi_get_typedarray_info(v.Env(), v, &r.type, &r.length, &r.data, &r.buffer, &byte_offset);
  if (s != napi_ok) throw Napi::Error::New(v.Env());
  return r;
}

bool IsDetached(Napi::Env env, napi_value buffer) {
  bool detached = false;
  if (buffer == nullptr || napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok) return false;
  return detached;
}

std::string DescribeTypedArray(Napi::Value v) {
  RawTypedArray r = TypedArrayInfo(v);
  std::string s = std::string("a ") + TypedArrayName(r.type) + " of " + Elements(r.length);
  if (IsDetached(v.Env(), r.buffer)) s += " (its buffer is detached)";
  return s;
}

}  // namespace

const char* DTypeName(DType d) noexcept { return d == DType::kFloat64 ? "float64" : "float32"; }

std::string Describe(Napi::Value v) {
  if (v.IsEmpty() || v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) return FormatNumber(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return "the string \"" + s + "\"";
  }
  if (v.IsSymbol()) return "a symbol";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsFunction()) return "a function";
  if (v.IsTypedArray()) return DescribeTypedArray(v);
  if (v.IsDataView()) return "a DataView";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsArray()) return "an array of " + Elements(v.As<Napi::Array>().Length());
  if (v.IsExternal()) return "an external value";
  if (v.IsObject()) return "an object";
  return "a value of unknown type";
}

Napi::Value GetField(Napi::Object obj, const char* key) { return obj.Get(key); }

Napi::Object RequireObject(Napi::Value v, const std::string& name) {
  if (v.IsEmpty() || !v.IsObject() || v.IsFunction() || v.IsArray() || v.IsTypedArray())
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, "an object", v);
  return v.As<Napi::Object>();
}

int64_t ToInteger(Napi::Value v, const std::string& name, int64_t min, int64_t max, const std::string& expected) {
  if (v.IsEmpty() || !v.IsNumber()) ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, expected, v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(min) || d > static_cast<double>(max))
    ThrowExpected(Code::kInvalidArgument, JsKind::kRangeError, name, expected, v);
  return static_cast<int64_t>(d);
}

double ToNumber(Napi::Value v, const std::string& name, double min, double max, const std::string& expected) {
  if (v.IsEmpty() || !v.IsNumber()) ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, expected, v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max)
    ThrowExpected(Code::kInvalidArgument, JsKind::kRangeError, name, expected, v);
  return d;
}

bool ToBool(Napi::Value v, const std::string& name, bool allow_nullish, bool fallback) {
  if (allow_nullish && (v.IsEmpty() || IsNullish(v))) return fallback;
  if (v.IsEmpty() || !v.IsBoolean())
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

std::string ToString(Napi::Value v, const std::string& name, const std::string& expected) {
  if (v.IsEmpty() || !v.IsString()) ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, expected, v);
  return v.As<Napi::String>().Utf8Value();
}

// ---- config ---------------------------------------------------------------------------------

namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

struct RawActivation {
  Napi::Value kind, alpha, beta;
};

ActSpec CheckActivation(const RawActivation& a, const std::string& name) {
  ActSpec s;
  s.kind = static_cast<Activation>(ToInteger(a.kind, name + ".kind", 0, kActivationCount - 1,
                                             "an activation id (an integer 0.." +
                                                 std::to_string(kActivationCount - 1) + ")"));
  const double inf = std::numeric_limits<double>::infinity();
  s.alpha = ToNumber(a.alpha, name + ".alpha", -inf, inf, "a finite number");
  s.beta = ToNumber(a.beta, name + ".beta", -inf, inf, "a finite number");
  return s;
}

}  // namespace

ConfigResult ReadConfig(Napi::Value v) {
  Napi::Object o = RequireObject(v, "config");
  // Phase 1: read everything (getters may run). Phase 2: check (no JS).
  Napi::Value cell = GetField(o, "cell"), input = GetField(o, "inputSize"), hidden = GetField(o, "hiddenSize"),
              proj = GetField(o, "projSize"), layers = GetField(o, "numLayers"), bidi = GetField(o, "bidirectional"),
              batch_first = GetField(o, "batchFirst"), bias = GetField(o, "bias"),
              lbr = GetField(o, "linearBeforeReset"), acts = GetField(o, "activations"), clip = GetField(o, "clip"),
              dtype = GetField(o, "dtype"), peep = GetField(o, "peepholes"), inforget = GetField(o, "inputForget");
  RawActivation raw_acts[3];
  const char* acts_expected = "an array of 3 activations ({ kind, alpha, beta })";
  if (acts.IsEmpty() || !acts.IsArray() || acts.As<Napi::Array>().Length() != 3)
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, "config.activations", acts_expected, acts);
  for (uint32_t i = 0; i < 3; ++i) {
    const std::string name = "config.activations[" + std::to_string(i) + "]";
    Napi::Value a = acts.As<Napi::Array>().Get(i);
    Napi::Object ao = RequireObject(a, name);
    raw_acts[i] = RawActivation{GetField(ao, "kind"), GetField(ao, "alpha"), GetField(ao, "beta")};
  }

  ConfigResult r;
  RnnConfig& c = r.cfg;
  const std::string cell_name = ToString(cell, "config.cell", "'rnn', 'lstm' or 'gru'");
  if (cell_name == "rnn")
    c.cell = CellType::kRnn;
  else if (cell_name == "lstm")
    c.cell = CellType::kLstm;
  else if (cell_name == "gru")
    c.cell = CellType::kGru;
  else
    ThrowExpected(Code::kInvalidArgument, JsKind::kRangeError, "config.cell", "'rnn', 'lstm' or 'gru'", cell);
  c.input_size = ToInteger(input, "config.inputSize", 1, kInt32Max, "a positive integer");
  c.hidden_size = ToInteger(hidden, "config.hiddenSize", 1, kInt32Max, "a positive integer");
  c.proj_size = ToInteger(proj, "config.projSize", 0, kInt32Max, "a non-negative integer (0 = no projection)");
  c.num_layers = ToInteger(layers, "config.numLayers", 1, kInt32Max, "a positive integer");
  c.bidirectional = ToBool(bidi, "config.bidirectional");
  c.batch_first = ToBool(batch_first, "config.batchFirst");
  c.bias = ToBool(bias, "config.bias");
  c.linear_before_reset = ToBool(lbr, "config.linearBeforeReset");
  c.f = CheckActivation(raw_acts[0], "config.activations[0]");
  c.g = CheckActivation(raw_acts[1], "config.activations[1]");
  c.h = CheckActivation(raw_acts[2], "config.activations[2]");
  c.peepholes = ToBool(peep, "config.peepholes", true, false);
  c.input_forget = ToBool(inforget, "config.inputForget", true, false);
  c.clip = ToNumber(clip, "config.clip", 0, std::numeric_limits<double>::max(),
                    "a finite number >= 0 (0 = no clipping)");
  const std::string dt = ToString(dtype, "config.dtype", "'float32' or 'float64'");
  if (dt == "float32")
    r.dtype = DType::kFloat32;
  else if (dt == "float64")
    r.dtype = DType::kFloat64;
  else
    ThrowExpected(Code::kInvalidArgument, JsKind::kRangeError, "config.dtype", "'float32' or 'float64'", dtype);
  return r;
}

// ---- TypedArrays ----------------------------------------------------------------------------

Shape::Shape(std::initializer_list<Dim> d) {
  for (const Dim& x : d) {
    if (count == 4) break;
    dims[count++] = x;
  }
}

int64_t Shape::elements() const noexcept {
  int64_t n = 1;
  for (int i = 0; i < count; ++i) {
    const int64_t s = dims[i].size;
    if (s <= 0) return 0;
    if (n > std::numeric_limits<int64_t>::max() / s) return std::numeric_limits<int64_t>::max();
    n *= s;
  }
  return n;
}

std::string Shape::text() const {
  std::string s;
  for (int i = 0; i < count; ++i) {
    if (i) s += " * ";
    s += std::string(dims[i].name) + " " + std::to_string(dims[i].size);
  }
  return s;
}

void* CheckArrayRaw(Napi::Value v, const std::string& name, napi_typedarray_type type, const char* type_name,
                    const char* dtype_note, const Shape& shape, bool nullable) {
  if (nullable && (v.IsEmpty() || IsNullish(v))) return nullptr;
  const int64_t want = shape.elements();
  auto expected = [&]() {
    std::string e = std::string("a ") + type_name + " of " + std::to_string(want) + " elements";
    if (shape.count > 1) e += " (" + shape.text() + ")";
    if (nullable) e += " or null";
    return e;
  };
  if (v.IsEmpty() || !v.IsTypedArray())
    ThrowExpected(Code::kInvalidArgument, JsKind::kTypeError, name, expected(), v);
  RawTypedArray r = TypedArrayInfo(v);
  if (r.type != type) {
    std::string e = std::string("a ") + type_name;
    if (dtype_note) e += std::string(" (") + dtype_note + ")";
    ThrowExpected(Code::kDType, JsKind::kTypeError, name, e, v);
  }
  if (static_cast<uint64_t>(want) != static_cast<uint64_t>(r.length))
    ThrowExpected(Code::kShapeMismatch, JsKind::kRangeError, name, expected(), v);
  if (r.data == nullptr || IsDetached(v.Env(), r.buffer))
    ThrowExpected(Code::kShapeMismatch, JsKind::kRangeError, name, expected(), v);
  return r.data;
}

}  // namespace rnnx::addon
