// rnnx/backend_info.h — what this binary can run on. Never throws.
#pragma once

#include <string>
#include <vector>

namespace rnnx {

struct CudaDevice {
  std::string name;
  double memory_bytes = 0;
  std::string compute_capability;
};

struct CudaProbe {
  bool compiled = false;
  bool available = false;
  std::vector<CudaDevice> devices;
  std::string reason;  // why not available ("built without CUDA", driver error text, ...)
};

/// Probes the CUDA runtime (cuda/ when compiled in, cuda_stub.cc otherwise). Never throws.
CudaProbe cuda_probe() noexcept;

}  // namespace rnnx
