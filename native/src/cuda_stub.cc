// cuda_stub.cc — compiled when the build has no CUDA (every node-gyp build, and cmake-js builds
// where no CUDA compiler was found or -DRNNX_CUDA=OFF): the probe reports why.
#include "rnnx/backend_info.h"

namespace rnnx {

CudaProbe cuda_probe() noexcept {
  CudaProbe p;
  p.compiled = false;
  p.available = false;
  p.reason = "built without CUDA (build from source with `npm run build:native` on a machine with nvcc)";
  return p;
}

}  // namespace rnnx
