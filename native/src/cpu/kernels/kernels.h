// kernels.h — signatures of every CPU kernel, and the KernelTable that holds one variant of each.
//
// No intrinsics here: this header is included by baseline code and by every ISA group. Each ISA's
// kernels live in kernels/<isa>/ in namespace rnnx::cpu::<isa> (so an AVX-512 copy of an inline
// function can never be picked for baseline callers). The scalar kernels are the reference every
// faster variant is tested against; they are templated on the element type so the same code also
// runs in float64 (the oracle for finite-difference gradient checks).
//
// Layouts: row-major, leading dimensions in elements. "Rows" of a cell kernel are hidden units of
// one batch row; gate blocks are laid out as in rnnx/cell.h (LSTM i,f,g,o; GRU r,z,n).
#pragma once

#include <cstdint>

#include "rnnx/cell.h"

// Cache prefetch hints (no-ops where the compiler has no builtin). The write hint becomes a plain
// prefetch on builds whose target lacks PREFETCHW (baseline x86-64).
#if defined(__GNUC__) || defined(__clang__)
#define RNNX_PREFETCH(p) __builtin_prefetch((p), 0)
#define RNNX_PREFETCH_W(p) __builtin_prefetch((p), 1)
#define RNNX_PREFETCH_L2(p) __builtin_prefetch((p), 0, 2)  // (prefetcht1 on x86)
#else
#define RNNX_PREFETCH(p) ((void)0)
#define RNNX_PREFETCH_W(p) ((void)0)
#define RNNX_PREFETCH_L2(p) ((void)0)
#endif

// Inlined whatever the compiler's heuristics say: the step kernel's cell update and the vector
// nonlinearities it calls. Left to the heuristics, they were out-of-line calls, and every live
// vector register was spilled around each one (all are caller-saved).
#if defined(__GNUC__) || defined(__clang__)
#define RNNX_ALWAYS_INLINE inline __attribute__((always_inline))
#define RNNX_LAMBDA_INLINE __attribute__((always_inline))
#elif defined(_MSC_VER)
#define RNNX_ALWAYS_INLINE __forceinline
#define RNNX_LAMBDA_INLINE
#else
#define RNNX_ALWAYS_INLINE inline
#define RNNX_LAMBDA_INLINE
#endif

namespace rnnx::cpu {

/// Activations and clip resolved for a kernel call (alpha/beta in the element type).
template <typename T>
struct CellParams {
  Activation f, g, h;
  T f_alpha, f_beta, g_alpha, g_beta, h_alpha, h_beta;
  T clip;  // 0 = none
  // LSTM only (ONNX): peephole weights [3H] in order i, f, o (null = none), and coupled input/forget
  // gates (f = 1 - i). Set per layer and direction by the core.
  const T* peep = nullptr;
  bool input_forget = false;
};

/// One time step of a recurrent layer with the standard activations (LSTM sigmoid/tanh/tanh, GRU with
/// linear_before_reset, RNN tanh or relu; no clip, peepholes or projection), fused: the recurrent
/// product of a block of hidden units, for every gate at once, stays in registers and the cell
/// update is applied there, so no gate buffer makes a round trip through memory. Float32 only.
///
/// Weights are "gate-interleaved" (ipack): hidden units in blocks of `block_units` (a vector, or two
/// for the RNN), and per block, per k, the vectors of every gate of those units. Rows are batch rows;
/// a row's time index is t = s (forward) or lengths[b] - 1 - s (reverse), row index t * B + b.
struct StepArgs {
  CellType cell = CellType::kLstm;
  bool relu = false;  // RNN: relu instead of tanh
  int64_t H = 0, B = 0;
  int64_t row0 = 0, row1 = 0;         // the rows to run: [row0, row1), or all B when row1 is 0
  int64_t s = 0;                      // the step
  int64_t flip = 0;                   // blocks run in descending order when s + flip is odd
  bool descending() const { return ((s + flip) & 1) != 0; }
  // batch row b's row index (t * B + b) at step `step`: t = step, or lengths[b] - 1 - step in reverse
  int64_t row_at(int64_t b, int64_t step) const { return (reverse ? lengths[b] - 1 - step : step) * B + b; }
  const int32_t* lengths = nullptr;   // [B]; rows with s >= lengths[b] keep their state
  bool reverse = false;
  const float* xw = nullptr;          // [T*B, G*H] input projection (standard gate-block layout) or null
  // xw already holds the biases step_init would add, added in its order (rnn.cc adds them where
  // the projection is computed, off the step's path): LSTM/RNN bias; GRU r, z: (x + bias_x) + bias,
  // n: x + bias_x (its b_hh part still comes from `bias`)
  bool xw_biased = false;
  const float* bias = nullptr;        // [G*H] or null: LSTM/RNN added to the pre-activation; GRU b_hh
  const float* bias_x = nullptr;      // [G*H] or null: GRU b_ih, added to the input terms
  // Optional second product for this step, x * W_ih in the same pass (no input projection written
  // and read back; GRU: its n-gate part kept apart for the reset):
  const float* x = nullptr;           // [B, Kx] this step's input rows b (not t*B+b)
  int64_t Kx = 0;
  const void* Px = nullptr;           // W_ih gate-interleaved
  const float* h = nullptr;           // [B, H] state entering the step
  bool h_zero = false;                // h is all zeros and W_hh finite: the recurrent product is skipped
  const void* Ph = nullptr;           // W_hh gate-interleaved
  bool bf16 = false;                  // Px / Ph hold bf16 values
  float* hnext = nullptr;             // [B, H] state after the step (rows of finished sequences: copied)
  float* c = nullptr;                 // [B, H] LSTM cell state, updated in place
  float* y = nullptr;                 // output rows (t*B+b) * ldy, or null
  int64_t ldy = 0;
  float* pre = nullptr;               // tape: rows (t*B+b) * (S = 4H LSTM/GRU, H RNN), or null
  float* hprev = nullptr;             // tape: [T*B, H] state entering the step
  float* cprev = nullptr;             // tape: [T*B, H] LSTM
  float* cst = nullptr;               // tape: [T*B, H] LSTM cell state after the step
};

template <typename T>
struct KernelTable {
  const char* isa = "scalar";
  int vector_width = 1;  // elements of T per vector register

  // C[M,N] = (acc ? C : 0) + A[M,K] * B[N,K]^T
  void (*gemm_nt)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                  T* C, int64_t ldc, bool acc);
  // Packed right-hand operand for products with a fixed B [N, K] (weights), packed once:
  // panels of `nr` columns of C each; the layout is private to the ISA that packed it.
  int nr = 1;
  int64_t (*packed_size)(int64_t N, int64_t K);  // elements of T
  void (*pack_nt)(int64_t N, int64_t K, const T* B, int64_t ldb, T* P);
  // The same panels from B given as [K, N] row-major (so C = A * B): for the backward products.
  void (*pack_kn)(int64_t N, int64_t K, const T* B, int64_t ldb, T* P);
  // C[M, cols of panels p0..p1) = (acc ? C : 0) + A[M,K] * B^T, B packed by pack_nt of this table.
  // Disjoint panel ranges may run on different threads.
  void (*gemm_nt_packed)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* P, T* C, int64_t ldc,
                         bool acc, int64_t p0, int64_t p1);
  // The same with A stored transposed, [K, M] (ld lda): the weight gradients' G^T * X without
  // transposing the gate gradients G first.
  void (*gemm_tn_packed)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* P, T* C, int64_t ldc,
                         bool acc, int64_t p0, int64_t p1);

  // Reduced-precision packed weights (inference only; float32 tables): the same panel layout as
  // pack_nt with bf16 values (round to nearest even), or int8 values with one float scale per row of
  // B (= column of C; scale = max|row| / 127). Products accumulate in float32.
  void (*pack_nt_bf16)(int64_t N, int64_t K, const T* B, int64_t ldb, uint16_t* P);
  void (*gemm_nt_bf16)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const uint16_t* P, T* C, int64_t ldc,
                       bool acc, int64_t p0, int64_t p1);
  void (*pack_nt_i8)(int64_t N, int64_t K, const T* B, int64_t ldb, int8_t* P, float* scales);
  void (*gemm_nt_i8)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const int8_t* P, const float* scales, T* C,
                     int64_t ldc, bool acc, int64_t p0, int64_t p1);

  // C[M,N] = (acc ? C : 0) + A[M,K] * B[K,N]
  void (*gemm_nn)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                  T* C, int64_t ldc, bool acc);
  // C[M,N] = (acc ? C : 0) + A[K,M]^T * B[K,N]
  void (*gemm_tn)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                  T* C, int64_t ldc, bool acc);

  // LSTM. pre[4H]: gate pre-activations (x and recurrent terms and both biases, before clip).
  // Forward: c = f*c_prev + i*g ; hout = o * h(c).
  void (*lstm_fwd)(const CellParams<T>& p, int64_t H, const T* pre, const T* c_prev, T* c, T* hout);
  // hout = o * h(c) again, from what forward stored (for the projection's weight gradient).
  void (*lstm_hout)(const CellParams<T>& p, int64_t H, const T* pre, const T* c, T* hout);
  // Backward. dhout[H]: dL/dhout. dc[H]: in dL/dc (from later steps), out dL/dc_prev.
  // dpre[4H]: out dL/dpre.
  void (*lstm_bwd)(const CellParams<T>& p, int64_t H, const T* pre, const T* c_prev, const T* c,
                   const T* dhout, T* dc, T* dpre);

  // GRU. xw[3H]: W x + b_ih. hh[3H]: recurrent terms + b_hh (for !lbr the n block is Rn(r*h)+brn,
  // computed after gru_reset). store[4H] out: pre_r, pre_z, pre_n, hh_n.
  void (*gru_fwd)(const CellParams<T>& p, int64_t H, bool lbr, const T* xw, const T* hh,
                  const T* h_prev, T* h, T* store);
  // !lbr only: rh = f(clip(xw_r + hh_r)) * h_prev.
  void (*gru_reset)(const CellParams<T>& p, int64_t H, const T* xw, const T* hh, const T* h_prev,
                    T* rh);
  // Backward, phase 1. dh[H]: dL/dh. Writes dxw[3H] (dL/dxw), dhh[3H] (dL/dhh; the n block is
  // dL/d(hh_n)), dh_prev[H] = the direct path z*dh. For !lbr the r blocks are left 0 and filled by
  // gru_bwd_reset once drh = dhh_n * Rn is known.
  void (*gru_bwd)(const CellParams<T>& p, int64_t H, bool lbr, const T* store, const T* h_prev,
                  const T* dh, T* dxw, T* dhh, T* dh_prev);
  // Backward, phase 2 (!lbr): drh[H] = dL/d(r*h). Fills the r blocks, adds r*drh to dh_prev.
  void (*gru_bwd_reset)(const CellParams<T>& p, int64_t H, const T* store, const T* h_prev,
                        const T* drh, T* dxw, T* dhh, T* dh_prev);
  // r*h_prev from what forward stored (for the !lbr weight gradient of Rn).
  void (*gru_rh)(const CellParams<T>& p, int64_t H, const T* store, const T* h_prev, T* rh);

  // Measures this ISA's multiply-add throughput on the calling thread for about `seconds`:
  // returns GFLOP/s (2 FLOPs per multiply-add), the peak the benchmarks compare against.
  double (*fma_peak)(double seconds) = nullptr;

  // Fused recurrent step (see StepArgs); null in tables without it (scalar, float64).
  int64_t (*iblocks)(int gates, int64_t H) = nullptr;         // interleaved blocks of H hidden units
  int64_t (*ipacked_size)(int gates, int64_t H, int64_t K) = nullptr;       // floats
  int64_t (*ipacked_size_bf16)(int gates, int64_t H, int64_t K) = nullptr;  // bf16 values (paired layout)
  // W [gates*H, K] row-major (ld ldw), gate blocks of H rows -> gate-interleaved panels.
  void (*ipack)(int gates, int64_t H, int64_t K, const T* W, int64_t ldw, T* P) = nullptr;
  void (*ipack_bf16)(int gates, int64_t H, int64_t K, const T* W, int64_t ldw, uint16_t* P) = nullptr;
  // Blocks [q0, q1) of every row; disjoint block ranges may run on different threads.
  void (*rnn_step)(const StepArgs& a, int64_t q0, int64_t q1) = nullptr;

  // RNN. h = f(clip(pre)); dpre = dh * f'(pre).
  void (*rnn_fwd)(const CellParams<T>& p, int64_t H, const T* pre, T* h);
  void (*rnn_bwd)(const CellParams<T>& p, int64_t H, const T* pre, const T* dh, T* dpre);
};

namespace scalar {
/// The reference table (baseline flags, any element type).
template <typename T>
const KernelTable<T>& table();
}  // namespace scalar

}  // namespace rnnx::cpu
