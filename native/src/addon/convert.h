// convert.h — JS values → plain C++ (numbers, config, raw TypedArray views), with fixed-wording
// checks. Every function here runs on the JS thread.
//
// Two kinds of functions, and the order matters for memory safety:
//   - Readers that may run JS (GetField: a property read can call a getter or a Proxy trap).
//   - Checkers that never run JS (ToInteger, CheckArray, Describe ...).
// Callers first read every field they need, then check them and take raw data pointers, with no
// JS in between: otherwise a getter could detach or resize a buffer whose pointer was already
// taken.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "addon_data.h"
#include "errors.h"
#include "rnnx/cell.h"

namespace rnnx::addon {

enum class DType { kFloat32, kFloat64 };

/// "float32" / "float64".
const char* DTypeName(DType d) noexcept;

template <typename T>
struct TypedArrayTraits;
template <>
struct TypedArrayTraits<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "Float32Array";
  static constexpr DType kDType = DType::kFloat32;
};
template <>
struct TypedArrayTraits<double> {
  static constexpr napi_typedarray_type kType = napi_float64_array;
  static constexpr const char* kName = "Float64Array";
  static constexpr DType kDType = DType::kFloat64;
};
template <>
struct TypedArrayTraits<int32_t> {
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kName = "Int32Array";
};

/// A short description of a value for error messages: `undefined`, `-1`, `the string "4"`,
/// `a Float64Array of 3 elements`, `an array of 2 elements`, `an object`, ... Never runs JS.
std::string Describe(Napi::Value v);

/// `v === null || v === undefined`.
inline bool IsNullish(Napi::Value v) { return v.IsNull() || v.IsUndefined(); }

// ---- readers (may run JS) -------------------------------------------------------------------

/// obj[key]; may run a getter (and rethrow what it throws, as a Napi::Error).
Napi::Value GetField(Napi::Object obj, const char* key);

// ---- checkers (never run JS) ----------------------------------------------------------------

/// v as an object (not null, not a function); else ArgError(INVALID_ARGUMENT, TypeError).
Napi::Object RequireObject(Napi::Value v, const std::string& name);

/// v as an integer in [min, max]. Not a number → TypeError; NaN, fractional or out of range →
/// RangeError; both RNNX_INVALID_ARGUMENT, message "<name>: expected <expected> but received …".
int64_t ToInteger(Napi::Value v, const std::string& name, int64_t min, int64_t max, const std::string& expected);

/// v as a finite number in [min, max] (same errors as ToInteger).
double ToNumber(Napi::Value v, const std::string& name, double min, double max, const std::string& expected);

/// v as a boolean; with `allow_nullish`, null/undefined read as `fallback`.
bool ToBool(Napi::Value v, const std::string& name, bool allow_nullish = false, bool fallback = false);

/// v as a string (TypeError RNNX_INVALID_ARGUMENT otherwise).
std::string ToString(Napi::Value v, const std::string& name, const std::string& expected);

// ---- config ---------------------------------------------------------------------------------

struct ConfigResult {
  rnnx::RnnConfig cfg;
  DType dtype = DType::kFloat32;
};

/// Reads and checks every field of NativeRnnConfig (lib/native/types.ts). Reads run getters;
/// errors are ArgError RNNX_INVALID_ARGUMENT naming the field ("config.hiddenSize: expected a
/// positive integer but received -1"). Cross-field rules are left to rnnx::validate_config.
ConfigResult ReadConfig(Napi::Value v);

// ---- TypedArrays ----------------------------------------------------------------------------

/// The shape a buffer must have, for the length check and its message.
struct Shape {
  struct Dim {
    const char* name;
    int64_t size;
  };
  Dim dims[4] = {};
  int count = 0;

  Shape(std::initializer_list<Dim> d);
  /// The product, saturated at INT64_MAX (no JS array can be that long, so it just mismatches).
  int64_t elements() const noexcept;
  /// "seqLen 2 * batch 3 * inputSize 4".
  std::string text() const;
};

/// Checks that v is a TypedArray of element type T with exactly shape.elements() elements and
/// returns its data pointer (in place, no copy). With `nullable`, null/undefined return nullptr.
/// Errors (ArgError, message "<name>: expected <...> but received <...>"):
///   not a TypedArray           → RNNX_INVALID_ARGUMENT (TypeError)
///   another element type       → RNNX_DTYPE (TypeError)
///   wrong length, or detached  → RNNX_SHAPE_MISMATCH (RangeError)
/// `dtype_note` (e.g. "the model is float32") is added to the dtype message when given.
/// Never runs JS. The returned pointer is valid until JS runs again (then the buffer could be
/// detached): keep a reference to v and run no JS before using it.
void* CheckArrayRaw(Napi::Value v, const std::string& name, napi_typedarray_type type, const char* type_name,
                    const char* dtype_note, const Shape& shape, bool nullable);

template <typename T>
T* CheckArray(Napi::Value v, const std::string& name, const Shape& shape, bool nullable = false) {
  const char* note = nullptr;
  if constexpr (std::is_same_v<T, float>) note = "the model is float32";
  if constexpr (std::is_same_v<T, double>) note = "the model is float64";
  return static_cast<T*>(CheckArrayRaw(v, name, TypedArrayTraits<T>::kType, TypedArrayTraits<T>::kName, note,
                                       shape, nullable));
}

}  // namespace rnnx::addon
