// errors.cc — C++ exceptions → JS errors with `.code`.
#include "errors.h"

#include <exception>
#include <new>

#include "convert.h"

namespace rnnx::addon {

CapturedError CaptureCurrentException(const char* operation) noexcept {
  CapturedError out;
  try {
    const std::string prefix = operation ? std::string(operation) + ": " : std::string();
    try {
      throw;
    } catch (const ArgError& e) {
      out.code = rnnx::code_name(e.code());
      out.kind = e.kind();
      out.message = prefix + e.message();
    } catch (const rnnx::Error& e) {
      out.code = rnnx::code_name(e.code());
      out.message = prefix + e.message();
    } catch (const std::bad_alloc&) {
      out.code = "RNNX_OUT_OF_MEMORY";
      out.message = prefix + "out of memory";
    } catch (const Napi::Error& e) {
      // Only reachable off the main thread by mistake, or from a JS failure the caller chose to
      // flatten; keep its text.
      out.code = "RNNX_INTERNAL";
      out.message = prefix + e.what();
    } catch (const std::exception& e) {
      out.code = "RNNX_INTERNAL";
      out.message = prefix + "internal error (" + e.what() + "); please report this bug";
    } catch (...) {
      out.code = "RNNX_INTERNAL";
      out.message = prefix + "unknown internal error; please report this bug";
    }
  } catch (...) {
    // Building a message failed (out of memory): keep the static defaults.
    out.code = "RNNX_OUT_OF_MEMORY";
    out.message.clear();
  }
  return out;
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message, JsKind kind) {
  Napi::Error err;
  switch (kind) {
    case JsKind::kTypeError: err = Napi::TypeError::New(env, message); break;
    case JsKind::kRangeError: err = Napi::RangeError::New(env, message); break;
    default: err = Napi::Error::New(env, message); break;
  }
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void ThrowExpectedText(rnnx::Code code, JsKind kind, const std::string& param, const std::string& expected,
                       const std::string& received) {
  throw ArgError(code, kind, param + ": expected " + expected + " but received " + received);
}

void ThrowExpected(rnnx::Code code, JsKind kind, const std::string& param, const std::string& expected,
                   Napi::Value received) {
  ThrowExpectedText(code, kind, param, expected, Describe(received));
}

void ThrowModuleDisposed() {
  throw ArgError(rnnx::Code::kDisposed, JsKind::kError, "Module is disposed; create a new one");
}

void ThrowModuleBusy() {
  throw ArgError(rnnx::Code::kBusy, JsKind::kError, "Module is busy with an async call; await it first");
}

}  // namespace rnnx::addon
