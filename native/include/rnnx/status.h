// rnnx/status.h — the one exception type the core throws.
//
// The core (native/src/core, native/src/cpu) never aborts the process and never prints errors:
// every failure is an rnnx::Error carrying a stable Code. The N-API glue maps the code to the
// string `err.code` (RNNX_*) that lib/errors.ts turns into a typed JS error class.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace rnnx {

enum class Code {
  kInvalidArgument,   // RNNX_INVALID_ARGUMENT: a value out of its domain (negative size, unknown enum, ...)
  kShapeMismatch,     // RNNX_SHAPE_MISMATCH: a buffer or tensor has the wrong shape or length
  kDType,             // RNNX_DTYPE: a buffer has the wrong element type
  kDisposed,          // RNNX_DISPOSED: the object was disposed
  kBusy,              // RNNX_BUSY: the object is already running an operation
  kBackendUnavailable,// RNNX_BACKEND_UNAVAILABLE
  kCuda,              // RNNX_CUDA
  kModelFormat,       // RNNX_MODEL_FORMAT
  kOutOfMemory,       // RNNX_OUT_OF_MEMORY: an allocation failed or a size overflowed
  kAborted,           // RNNX_ABORTED
  kInternal,          // RNNX_INTERNAL: a bug in rnnx; please report it
};

/// Stable string for a code, e.g. "RNNX_SHAPE_MISMATCH". Never returns null.
const char* code_name(Code code) noexcept;

class Error : public std::exception {
 public:
  Error(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code() const noexcept { return code_; }
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const noexcept { return message_; }

 private:
  Code code_;
  std::string message_;
};

}  // namespace rnnx
