// status.cc — stable names of error codes (the strings JS sees as err.code).
#include "rnnx/status.h"

namespace rnnx {

const char* code_name(Code code) noexcept {
  switch (code) {
    case Code::kInvalidArgument: return "RNNX_INVALID_ARGUMENT";
    case Code::kShapeMismatch: return "RNNX_SHAPE_MISMATCH";
    case Code::kDType: return "RNNX_DTYPE";
    case Code::kDisposed: return "RNNX_DISPOSED";
    case Code::kBusy: return "RNNX_BUSY";
    case Code::kBackendUnavailable: return "RNNX_BACKEND_UNAVAILABLE";
    case Code::kCuda: return "RNNX_CUDA";
    case Code::kModelFormat: return "RNNX_MODEL_FORMAT";
    case Code::kOutOfMemory: return "RNNX_OUT_OF_MEMORY";
    case Code::kAborted: return "RNNX_ABORTED";
    case Code::kInternal: return "RNNX_INTERNAL";
  }
  return "RNNX_INTERNAL";
}

}  // namespace rnnx
