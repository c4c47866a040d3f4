// dispatch.h — the process-wide KernelTable, chosen once from the CPU's features.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace rnnx::cpu {

/// The float32 table in use (best supported ISA, lowered by RNNX_CPU_ISA or set_isa()).
/// Thread-safe; selection happens on first use.
const KernelTable<float>& kernels_f32();
/// Float64 always runs the scalar reference kernels.
const KernelTable<double>& kernels_f64();

template <typename T>
const KernelTable<T>& kernels();
template <>
inline const KernelTable<float>& kernels<float>() { return kernels_f32(); }
template <>
inline const KernelTable<double>& kernels<double>() { return kernels_f64(); }

/// ISA names compiled into this binary, lowest first ("scalar", "avx2", "avx512" / "neon").
std::vector<std::string> compiled_isas();
/// ISA names this CPU and OS support (compiled into this binary or not), lowest first.
std::vector<std::string> supported_isas();
/// The ISA in use.
std::string selected_isa();
/// Multiply-add peak of the selected ISA on `threads` threads running at once, in GFLOP/s.
double fma_peak_gflops(int threads, double seconds);

/// Lowers (or restores) the ISA. Throws Error(kInvalidArgument) for an unknown name or one this
/// machine does not support. Not thread-safe against running kernels: call when idle.
void set_isa(const std::string& name);

}  // namespace rnnx::cpu
