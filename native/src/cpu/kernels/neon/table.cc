// neon/table.cc — the neon kernels: the generic SIMD kernels of ../simd/ compiled with this
// directory's ISA flags, in their own namespace (see ../simd/vec.h for why).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <arm_neon.h>

#include "../kernels.h"

namespace rnnx::cpu::neon {
#define RNNX_ISA_NAME "neon"
#include "../simd/vec.h"
#include "../simd/gemm_impl.h"
#include "../simd/cells_impl.h"
#include "../simd/step_impl.h"
#include "../simd/table_body.h"
#undef RNNX_ISA_NAME
}  // namespace rnnx::cpu::neon
