// errors.h — how failures cross the N-API boundary.
//
// Inside the addon, every failure is a C++ exception:
//   - ArgError (an rnnx::Error that also says which JS error class to use) for argument checks,
//   - rnnx::Error from the core,
//   - std::bad_alloc, other std::exception, or anything else,
//   - Napi::Error when a JS operation itself threw (a getter, or a failing N-API call).
// Every JS-facing callback runs its body through Guard(), which turns the first four into a JS
// Error carrying `.code` (RNNX_*) and lets a Napi::Error through unchanged. node-addon-api then
// throws it into JS. Nothing else may escape a callback (it would terminate the process).
//
// Async workers cannot touch N-API off the main thread, so Execute() records the failure with
// CaptureCurrentException() (plain strings) and OnError() builds the JS error with MakeError().
#pragma once

#include <string>

#include "addon_data.h"
#include "rnnx/status.h"

namespace rnnx::addon {

enum class JsKind { kError, kTypeError, kRangeError };

/// An argument problem found by the glue: an rnnx::Error with the JS class to throw.
class ArgError : public rnnx::Error {
 public:
  ArgError(rnnx::Code code, JsKind kind, std::string message)
      : rnnx::Error(code, std::move(message)), kind_(kind) {}
  JsKind kind() const noexcept { return kind_; }

 private:
  JsKind kind_;
};

/// A failure flattened to strings, safe to build and keep on any thread.
struct CapturedError {
  std::string code = "RNNX_INTERNAL";  // RNNX_*
  std::string message;
  JsKind kind = JsKind::kError;
};

/// Call only from inside a catch block: describes the exception being handled. `operation`
/// (e.g. "forwardAsync"), when given, prefixes the message ("forwardAsync: ..."). Any thread;
/// makes no N-API calls; never throws.
CapturedError CaptureCurrentException(const char* operation) noexcept;

/// A JS Error (or TypeError / RangeError) with `.code` set. JS thread.
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message,
                      JsKind kind = JsKind::kError);
inline Napi::Error MakeError(Napi::Env env, const CapturedError& e) {
  return MakeError(env, e.code, e.message, e.kind);
}

/// Runs `body` and converts any C++ exception into a thrown Napi::Error with `.code`.
/// JS thread; use for the body of every JS-facing callback.
template <typename F>
auto Guard(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;  // already a JS exception (a getter threw, or an N-API call failed)
  } catch (...) {
    throw MakeError(env, CaptureCurrentException(nullptr));
  }
}

// ---- fixed-wording errors ----------------------------------------------------------------

/// "<param>: expected <expected> but received <describe(received)>" — code/kind as given.
/// JS thread (describing the value reads it, without running any JS).
[[noreturn]] void ThrowExpected(rnnx::Code code, JsKind kind, const std::string& param,
                                const std::string& expected, Napi::Value received);
/// The same with a ready-made description of what was received.
[[noreturn]] void ThrowExpectedText(rnnx::Code code, JsKind kind, const std::string& param,
                                    const std::string& expected, const std::string& received);

[[noreturn]] void ThrowModuleDisposed();  // RNNX_DISPOSED "Module is disposed; create a new one"
[[noreturn]] void ThrowModuleBusy();      // RNNX_BUSY "Module is busy with an async call; await it first"

}  // namespace rnnx::addon
