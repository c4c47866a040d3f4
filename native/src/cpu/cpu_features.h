// cpu_features.h — the ONLY place that asks the hardware (CPUID, XGETBV, getauxval) what it runs.
#pragma once

namespace rnnx::cpu {

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 + FMA3, with the OS saving YMM state
  bool avx512 = false;    // AVX-512 F/BW/DQ/VL, with the OS saving opmask + ZMM state
  bool neon = false;      // AArch64 Advanced SIMD
};

/// Detected once; thread-safe.
const CpuFeatures& cpu_features();

}  // namespace rnnx::cpu
