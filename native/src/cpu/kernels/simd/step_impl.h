// simd/step_impl.h — the fused recurrent step of kernels.h (StepArgs) and the gate-interleaved
// weight layout it reads. Included inside `namespace rnnx::cpu::<isa>` by kernels/<isa>/table.cc
// after gemm_impl.h and cells_impl.h (see vec.h).
//
// Layout: hidden units in blocks of kUV vectors' worth (one vector for LSTM and GRU; two for the
// RNN, whose single gate would otherwise leave too few accumulators); block q holds, for each k, NV
// = gates * kUV vectors: gate g's weights for the block's units (zero past H). A block's weights are
// contiguous, and a thread's range of blocks is one contiguous stream.
//
// Kernel: for a block and MR batch rows the NV x MR accumulators stay in registers across all of K
// (per k: NV vector loads, MR broadcasts, NV * MR FMAs), then the cell update runs on them in
// place: the gate pre-activations never touch memory unless a tape asks for them. One row (batch
// 1) is bandwidth-bound on the weights: K is split over interleaved partial sums instead.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "../kernels.h"

#if defined(__AVX512F__) || defined(__ARM_NEON) || defined(__aarch64__)
constexpr int kVRegs = 32;
#else
constexpr int kVRegs = 16;
#endif

inline int units_per_block_vectors(int gates) { return gates == 1 ? 2 : 1; }

inline int64_t iblocks_impl(int gates, int64_t H) {
  const int64_t bu = static_cast<int64_t>(V::kWidth) * units_per_block_vectors(gates);
  return (H + bu - 1) / bu;
}

inline int64_t ipacked_size_impl(int gates, int64_t H, int64_t K) {
  return iblocks_impl(gates, H) * K * gates * units_per_block_vectors(gates) * V::kWidth;
}

// bf16 weights: per k the vectors are stored in pairs, element 2l of pair j = vector 2j's lane l and
// element 2l+1 = vector 2j+1's lane l (an odd count is padded with zeros), so a 32-bit lane holds
// both: one load and a shift or a mask per vector (V::load_bf16_pair) instead of a widening load.
inline int64_t ipacked_size_bf16_impl(int gates, int64_t H, int64_t K) {
  const int nv = gates * units_per_block_vectors(gates);
  return iblocks_impl(gates, H) * K * ((nv + 1) / 2 * 2) * V::kWidth;
}

// Calls f(q, k, v, l, w) for every slot of the gate-interleaved layout with `slots` vectors per k:
// w is W's value for (gate, unit) of vector v, lane l, at column k; 0 past H and in padding slots.
template <typename F>
inline void ipack_visit(int gates, int64_t H, int64_t K, const float* W, int64_t ldw, int slots, F&& f) {
  const int uv = units_per_block_vectors(gates), nv = gates * uv;
  const int64_t bu = static_cast<int64_t>(V::kWidth) * uv, blocks = iblocks_impl(gates, H);
  for (int64_t q = 0; q < blocks; ++q)
    for (int v = 0; v < slots; ++v)
      for (int l = 0; l < V::kWidth; ++l) {
        const int64_t unit = q * bu + (v % uv) * V::kWidth + l;
        const float* src = v < nv && unit < H ? W + ((v / uv) * H + unit) * ldw : nullptr;
        for (int64_t k = 0; k < K; ++k) f(q, k, v, l, src ? src[k] : 0.f);
      }
}

inline void ipack_impl(int gates, int64_t H, int64_t K, const float* W, int64_t ldw, float* P) {
  const int nv = gates * units_per_block_vectors(gates);
  ipack_visit(gates, H, K, W, ldw, nv, [&](int64_t q, int64_t k, int v, int l, float w) {
    P[((q * K + k) * nv + v) * V::kWidth + l] = w;
  });
}

inline void ipack_bf16_impl(int gates, int64_t H, int64_t K, const float* W, int64_t ldw, uint16_t* P) {
  const int nvp = (gates * units_per_block_vectors(gates) + 1) / 2 * 2;
  ipack_visit(gates, H, K, W, ldw, nvp, [&](int64_t q, int64_t k, int v, int l, float w) {
    P[((q * K + k) * nvp + (v / 2) * 2) * V::kWidth + 2 * l + (v % 2)] = bf16_round(w);
  });
}

// Elements per k of one block's weights, and the NV weight vectors of one k.
template <int NV, typename WT>
constexpr int64_t kstride() {
  return (std::is_same_v<WT, uint16_t> ? (NV + 1) / 2 * 2 : NV) * static_cast<int64_t>(V::kWidth);
}

template <int NV, typename WT>
inline void load_k(const WT* p, V (&b)[NV]) {
  if constexpr (std::is_same_v<WT, uint16_t>) {
    for (int j = 0; 2 * j < NV; ++j) {
      V lo, hi;
      V::load_bf16_pair(p + 2 * j * V::kWidth, lo, hi);
      b[2 * j] = lo;
      if (2 * j + 1 < NV) b[2 * j + 1] = hi;
    }
  } else {
    for (int v = 0; v < NV; ++v) b[v] = V::loadu(p + v * V::kWidth);
  }
}

// The pieces of K/2 cache lines (one per two k of step_acc) that cover one block's part of K rows of
// `row_bytes`; for K < 2 the largest count, which no number of row blocks reaches, so nothing is
// prefetched.
inline int64_t pf_pieces(int64_t K, int64_t row_bytes) {
  const int64_t lines = (K * row_bytes + 63) / 64;
  return K < 2 ? std::numeric_limits<int64_t>::max() : (lines + K / 2 - 1) / (K / 2);
}

// acc[r][v] += sum_k A[r, k] * Pq[k][v]; with `pf`, also a prefetch of the line pf + 64 * (k / 2)
// at every other k (a piece of the next block's weights, see step_cell). Two copies of the loop, so
// that the common one carries no test per k.
template <int MR, int NV, typename WT>
inline void step_acc(int64_t K, const float* A, int64_t lda, const WT* Pq, V (&acc)[MR][NV], const char* pf = nullptr) {
  if (pf) {
    for (int64_t k = 0; k < K; ++k) {
      if ((k & 1) == 0) RNNX_PREFETCH_L2(pf + (k >> 1) * 64);
      V b[NV];
      load_k<NV>(Pq + k * kstride<NV, WT>(), b);
      for (int r = 0; r < MR; ++r) {
        const V a = V::set1(A[r * lda + k]);
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a, b[v], acc[r][v]);
      }
    }
    return;
  }
  for (int64_t k = 0; k < K; ++k) {
    V b[NV];
    load_k<NV>(Pq + k * kstride<NV, WT>(), b);
    for (int r = 0; r < MR; ++r) {
      const V a = V::set1(A[r * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a, b[v], acc[r][v]);
    }
  }
}

// One row: KS interleaved partial sums over k, so that NV * KS FMA chains are in flight.
template <int NV, typename WT>
inline void step_acc1(int64_t K, const float* A, const WT* Pq, V (&acc)[1][NV]) {
  constexpr int KS = NV >= 3 ? 2 : 4;
  constexpr int64_t ks = kstride<NV, WT>();
  V s[KS][NV];
  for (int j = 0; j < KS; ++j)
    for (int v = 0; v < NV; ++v) s[j][v] = V::zero();
  int64_t k = 0;
  for (; k + KS <= K; k += KS)
    for (int j = 0; j < KS; ++j) {
      const V a = V::set1(A[k + j]);
      V b[NV];
      load_k<NV>(Pq + (k + j) * ks, b);
      for (int v = 0; v < NV; ++v) s[j][v] = V::fmadd(a, b[v], s[j][v]);
    }
  for (; k < K; ++k) {
    const V a = V::set1(A[k]);
    V b[NV];
    load_k<NV>(Pq + k * ks, b);
    for (int v = 0; v < NV; ++v) s[0][v] = V::fmadd(a, b[v], s[0][v]);
  }
  for (int v = 0; v < NV; ++v) {
    V t = s[0][v];
    for (int j = 1; j < KS; ++j) t = V::add(t, s[j][v]);
    acc[0][v] = V::add(acc[0][v], t);
  }
}

// Small batches: the projection lines that block q's row b adds at step s (a later step), asked
// for now. They were written by the GEMM before the steps or by the pipe's other thread, so they sit
// in L3 or in another core's cache, and step_init's loads of them, issued only a block's product
// before the cell update needs them, left the update waiting: two steps ahead, C5 (the pipe, and
// the team) ran 10 % faster and C2 GRU 4 %. (Larger batches read whole rows of them, which the
// hardware prefetcher follows.)
constexpr int64_t kXwAhead = 2;

RNNX_ALWAYS_INLINE void prefetch_xw(const StepArgs& a, int64_t q, int64_t b, int64_t s) {
  if (!a.xw || a.B > 4 || !a.lengths || s >= a.lengths[b]) return;
  const int64_t H = a.H, row = a.row_at(b, s);
  if (a.cell == CellType::kRnn) {
    const float* p = a.xw + row * H + q * 2 * V::kWidth;
    RNNX_PREFETCH(p);
    if ((q * 2 + 1) * V::kWidth < H) RNNX_PREFETCH(p + V::kWidth);
    return;
  }
  const int gates = a.cell == CellType::kLstm ? 4 : 3;
  const float* p = a.xw + row * gates * H + q * V::kWidth;
  for (int g = 0; g < gates; ++g) RNNX_PREFETCH(p + g * H);
}

// The accumulators of block q for batch row b when the step reads a projection (StepArgs::xw):
// they start from its terms plus the biases, so that those loads (rows another thread's GEMM or
// pipe wrote, often still in that core's cache) have the whole product to arrive. Loaded in the
// cell update instead, the update waited on them (perf put most of its samples there). GRU: acc holds
// r and z whole and the recurrent n part with b_hh; the input n part goes to xn (the reset
// multiplies only the recurrent part). Without a projection, and for finished rows (step_finish
// copies their state), the accumulators start from zero.
template <int NV>
RNNX_ALWAYS_INLINE void step_init(const StepArgs& a, int64_t q, int64_t b, V (&acc)[NV], float* xn) {
  for (int v = 0; v < NV; ++v) acc[v] = V::zero();
  if (!a.xw || (a.lengths && a.s >= a.lengths[b])) return;
  const int64_t H = a.H, row = a.row_at(b, a.s);
  const bool add = !a.xw_biased;  // (else xw holds the sums below already)
  if (a.cell == CellType::kRnn) {
    for (int part = 0; part < 2; ++part) {
      const int64_t u0 = (q * 2 + part) * V::kWidth;
      if (u0 >= H) break;
      const int n = static_cast<int>(std::min<int64_t>(V::kWidth, H - u0));
      V p = ld(a.xw + row * H + u0, n);
      if (add && a.bias) p = V::add(p, ld(a.bias + u0, n));
      acc[part] = p;
    }
    return;
  }
  const int64_t u0 = q * V::kWidth;
  const int n = static_cast<int>(std::min<int64_t>(V::kWidth, H - u0));
  const float* xr = a.xw + row * (NV * H);
  if constexpr (NV == 4) {
    for (int g = 0; g < 4; ++g) {
      V v = ld(xr + g * H + u0, n);
      if (add && a.bias) v = V::add(v, ld(a.bias + g * H + u0, n));
      acc[g] = v;
    }
  } else if constexpr (NV == 3) {
    for (int g = 0; g < 3; ++g) {
      V x = ld(xr + g * H + u0, n);
      if (add && a.bias_x) x = V::add(x, ld(a.bias_x + g * H + u0, n));
      if (g < 2) {
        acc[g] = add ? V::add(x, a.bias ? ld(a.bias + g * H + u0, n) : V::zero()) : x;
      } else {
        acc[g] = a.bias ? ld(a.bias + g * H + u0, n) : V::zero();
        V::storeu(xn, x);
      }
    }
  }
}

// The cell update of block q for batch row b, from its accumulated recurrent (and input) products.
// loaded: acc started from step_init (the projection's terms and the biases are in it; GRU: xn is
// the input n part). Otherwise xn is the n-gate part of the input product computed in the kernel
// (StepArgs::x; kept out of acc, as the reset multiplies only the recurrent part), or null.
template <int NV>
RNNX_ALWAYS_INLINE void step_finish(const StepArgs& a, int64_t q, int64_t b, const V (&acc)[NV], const float* xn, bool loaded) {
  const int64_t H = a.H;
  const bool active = !a.lengths || a.s < a.lengths[b];
  const int64_t row = a.row_at(b, a.s);
  const float* hp_row = a.h + b * H;
  float* hn_row = a.hnext + b * H;
  prefetch_xw(a, q, b, a.s + kXwAhead);
  if (a.cell == CellType::kRnn) {
    for (int part = 0; part < 2; ++part) {
      const int64_t u0 = (q * 2 + part) * V::kWidth;
      if (u0 >= H) break;
      const int n = static_cast<int>(std::min<int64_t>(V::kWidth, H - u0));
      if (!active) {
        st(hn_row + u0, ld(hp_row + u0, n), n);
        continue;
      }
      V p = acc[part];
      if (!loaded && a.bias) p = V::add(p, ld(a.bias + u0, n));
      if (a.pre) st(a.pre + row * H + u0, p, n);
      if (a.hprev) st(a.hprev + row * H + u0, ld(hp_row + u0, n), n);
      const V hv = a.relu ? V::max(p, V::zero()) : vtanh(p);
      st(hn_row + u0, hv, n);
      if (a.y) st(a.y + row * a.ldy + u0, hv, n);
    }
    return;
  }
  const int64_t u0 = q * V::kWidth;
  const int n = static_cast<int>(std::min<int64_t>(V::kWidth, H - u0));
  if (!active) {
    st(hn_row + u0, ld(hp_row + u0, n), n);
    return;
  }
  const V hp = ld(hp_row + u0, n);
  if (a.hprev) st(a.hprev + row * H + u0, hp, n);
  if constexpr (NV == 4) {  // LSTM i, f, g, o
    // (one gate at a time by value: an array of gates here compiled to a copy through the stack, a
    // block move whose stores the next loads could not forward from)
    auto pre = [&](int g, V v) RNNX_LAMBDA_INLINE {
      if (!loaded && a.bias) v = V::add(v, ld(a.bias + g * H + u0, n));
      if (a.pre) st(a.pre + row * 4 * H + g * H + u0, v, n);
      return v;
    };
    const V p0 = pre(0, acc[0]), p1 = pre(1, acc[1]), p2 = pre(2, acc[2]), p3 = pre(3, acc[3]);
    float* c_row = a.c + b * H;
    const V cp = ld(c_row + u0, n);
    if (a.cprev) st(a.cprev + row * H + u0, cp, n);
    const V i = vsigmoid(p0), f = vsigmoid(p1), g = vtanh(p2), o = vsigmoid(p3);
    const V cn = V::fmadd(f, cp, V::mul(i, g));
    st(c_row + u0, cn, n);
    if (a.cst) st(a.cst + row * H + u0, cn, n);
    const V hv = V::mul(o, vtanh(cn));
    st(hn_row + u0, hv, n);
    if (a.y) st(a.y + row * a.ldy + u0, hv, n);
  } else if constexpr (NV == 3) {  // GRU r, z, n with the reset applied after the recurrent product (linear_before_reset)
    V pr = acc[0], pz = acc[1], hn = acc[2], xn_ = xn ? V::loadu(xn) : V::zero();
    if (!loaded) {
      if (a.bias) {
        pr = V::add(pr, ld(a.bias + u0, n));
        pz = V::add(pz, ld(a.bias + H + u0, n));
        hn = V::add(hn, ld(a.bias + 2 * H + u0, n));
      }
      if (a.bias_x) {  // (the input product's r and z parts are in acc already)
        pr = V::add(pr, ld(a.bias_x + u0, n));
        pz = V::add(pz, ld(a.bias_x + H + u0, n));
        xn_ = V::add(xn_, ld(a.bias_x + 2 * H + u0, n));
      }
    }
    const V r = vsigmoid(pr), z = vsigmoid(pz);
    const V pn = V::fmadd(r, hn, xn_);
    const V nn = vtanh(pn);
    const V hv = V::fmadd(z, V::sub(hp, nn), nn);
    if (a.pre) {
      float* pr_row = a.pre + row * 4 * H + u0;
      st(pr_row, pr, n);
      st(pr_row + H, pz, n);
      st(pr_row + 2 * H, pn, n);
      st(pr_row + 3 * H, hn, n);
    }
    st(hn_row + u0, hv, n);
    if (a.y) st(a.y + row * a.ldy + u0, hv, n);
  }
}

// The accumulators of block q for rows b0.. b0 + M: the projection terms and biases (step_init), the
// input product where the step computes it (GRU: its n-gate part set aside in xn), the recurrent one.
template <int M, int NV, typename WT>
RNNX_ALWAYS_INLINE void step_products(const StepArgs& a, int64_t q, int64_t b0, const WT* pq_h, const WT* pq_x,
                                      V (&acc)[M][NV], float (&xn)[NV == 3 ? M : 1][V::kWidth],
                                      const char* pf_x = nullptr, const char* pf_h = nullptr) {
  for (int r = 0; r < M; ++r) step_init<NV>(a, q, b0 + r, acc[r], xn[NV == 3 ? r : 0]);
  // One row at batch 1 splits K over partial sums (only then: a row's sums must not depend on how
  // many rows share its register block, which with a block's rows split between members varies from
  // call to call).
  auto product = [&](int64_t K, const float* A, int64_t lda, const WT* P, const char* pf) {
    if constexpr (M == 1)
      if (a.B == 1) return step_acc1<NV>(K, A, P, acc);
    step_acc<M, NV>(K, A, lda, P, acc, pf);
  };
  if (pq_x) {
    product(a.Kx, a.x + b0 * a.Kx, a.Kx, pq_x, pf_x);
    if constexpr (NV == 3)  // GRU: the input product's n-gate part is set aside for the reset
      for (int r = 0; r < M; ++r) {
        V::storeu(xn[r], acc[r][2]);
        acc[r][2] = V::zero();
      }
  }
  if (!a.h_zero) product(a.H, a.h + b0 * a.H, a.H, pq_h, pf_h);
}

template <int M, int NV, typename WT>
inline void step_rows(const StepArgs& a, int64_t q, int64_t b0, const WT* pq_h, const WT* pq_x,
                      const char* pf_x = nullptr, const char* pf_h = nullptr) {
  V acc[M][NV];
  alignas(64) float xn[NV == 3 ? M : 1][V::kWidth];
  const bool loaded = a.xw != nullptr;
  step_products<M, NV>(a, q, b0, pq_h, pq_x, acc, xn, pf_x, pf_h);
  for (int r = 0; r < M; ++r) step_finish<NV>(a, q, b0 + r, acc[r], NV == 3 && (pq_x || loaded) ? xn[r] : nullptr, loaded);
}

template <int M, int NV, typename WT>
inline void step_rows_upto(int m, const StepArgs& a, int64_t q, int64_t b0, const WT* pq_h, const WT* pq_x,
                           const char* pf_x = nullptr, const char* pf_h = nullptr) {
  if constexpr (M >= 1) {
    if (m == M) return step_rows<M, NV>(a, q, b0, pq_h, pq_x, pf_x, pf_h);
    step_rows_upto<M - 1, NV>(m, a, q, b0, pq_h, pq_x, pf_x, pf_h);
  }
}

// Batch 1: the blocks of step_rows<1> with each block's cell update issued after the next block's
// product instead of before it (the same operations on the same values: the same bits). The update
// is a chain of dependent operations (sigmoid, then the reset, then tanh) some 150-200 cycles long,
// and it started only once the block's last weight loads had arrived; the next block's product then
// filled the reorder buffer behind it. Issued a block later, its inputs are ready and the chain runs
// beside the next product: C5's step 1.22-1.31 -> 1.18-1.21 us in a harness of the kernel alone.
template <int NV, typename WT>
inline void step_b1(const StepArgs& a, int64_t q0, int64_t q1) {
  const WT* Ph = static_cast<const WT*>(a.Ph);
  const WT* Px = static_cast<const WT*>(a.Px);
  const int64_t per_k = kstride<NV, WT>();
  const bool down = a.descending(), loaded = a.xw != nullptr;
  V prev[NV];
  for (int v = 0; v < NV; ++v) prev[v] = V::zero();
  alignas(64) float prev_xn[V::kWidth] = {};
  int64_t prev_q = -1;
  auto finish_prev = [&]() RNNX_LAMBDA_INLINE {
    step_finish<NV>(a, prev_q, 0, prev, NV == 3 && (Px || loaded) ? prev_xn : nullptr, loaded);
  };
  for (int64_t i = q0; i < q1; ++i) {
    const int64_t q = down ? q1 - 1 - (i - q0) : i;
    V acc[1][NV];
    alignas(64) float xn[1][V::kWidth] = {};
    step_products<1, NV>(a, q, 0, Ph + q * a.H * per_k, Px ? Px + q * a.Kx * per_k : nullptr, acc, xn);
    if (prev_q >= 0) finish_prev();
    for (int v = 0; v < NV; ++v) prev[v] = acc[0][v];
    if constexpr (NV == 3) V::storeu(prev_xn, V::loadu(xn[0]));
    prev_q = q;
  }
  if (prev_q >= 0) finish_prev();
}

template <int NV, int MR, typename WT>
inline void step_cell(const StepArgs& a, int64_t q0, int64_t q1) {
  if constexpr (NV >= 3)  // (the RNN's update is one tanh: no chain to hide, and C2 RNN ran 2 % slower)
    if (a.B == 1) return step_b1<NV, WT>(a, q0, q1);
  const WT* Ph = static_cast<const WT*>(a.Ph);
  const WT* Px = static_cast<const WT*>(a.Px);
  const int64_t per_k = kstride<NV, WT>();
  // Blocks run in alternating directions from step to step (and call to call): the blocks a step
  // ends with are still in cache when the next one starts with them. Weights a little larger than a
  // cache, swept cyclically, would miss on every line; swept back and forth, most of them hit.
  const bool down = a.descending();
  // rows in nearly equal register blocks (64 rows at MR 6: 6 x 9 + 5 x 2, not 6 x 10 + 4)
  const int64_t rb = a.row0, rn = (a.row1 > 0 ? a.row1 : a.B) - rb;
  const int64_t nblk = (rn + MR - 1) / MR;
  // The next block's weights come in a piece per row block after the first (step_acc's `pf`),
  // where the row blocks after the first are enough to cover all of them: without it each block's
  // first row block waited on its weights arriving from L3 (C3 LSTM, 256 KiB a block: that row
  // block took 1.5 times as long as the others; prefetched, 1.1 times and C3 LSTM 2 % faster).
  // With fewer row blocks the pieces would be larger and crowd the product's own stream (C4's
  // forward and C3 RNN, 3 row blocks a thread, ran 3-4 % slower with them).
  const int64_t pieces_x = Px ? pf_pieces(a.Kx, per_k * int64_t(sizeof(WT))) : 0;
  const int64_t pieces_h = pf_pieces(a.H, per_k * int64_t(sizeof(WT)));
  const bool prefetch = nblk - 1 >= pieces_h && nblk - 1 >= pieces_x;
  for (int64_t i = q0; i < q1; ++i) {
    const int64_t q = down ? q1 - 1 - (i - q0) : i;
    const WT* pq_h = Ph + q * a.H * per_k;
    const WT* pq_x = Px ? Px + q * a.Kx * per_k : nullptr;
    const bool pf = prefetch && i + 1 < q1;
    const int64_t qn = down ? q - 1 : q + 1;
    const char* nx = pf && Px ? reinterpret_cast<const char*>(Px + qn * a.Kx * per_k) : nullptr;
    const char* nh = pf ? reinterpret_cast<const char*>(Ph + qn * a.H * per_k) : nullptr;
    for (int64_t j = 0, b = rb; j < nblk; ++j) {
      const int64_t e = rb + rn * (j + 1) / nblk;
      // row block j >= 1: lines [(j - 1) * K/2, j * K/2) of each part of the next block
      const int64_t piece = j - 1;
      const char* px = nx && piece >= 0 && piece < pieces_x ? nx + piece * (a.Kx / 2) * 64 : nullptr;
      const char* ph = nh && piece >= 0 && piece < pieces_h ? nh + piece * (a.H / 2) * 64 : nullptr;
      step_rows_upto<MR, NV>(static_cast<int>(e - b), a, q, b, pq_h, pq_x, px, ph);
      b = e;
    }
  }
}

// Rows per register block: NV * MR accumulators + NV weight vectors + a broadcast must fit.
constexpr int step_mr(int nv) {
  return (kVRegs - nv - 2) / nv > 12 ? 12 : (kVRegs - nv - 2) / nv > 8 && nv == 3 ? 8 : (kVRegs - nv - 2) / nv;
}

template <typename WT>
inline void step_any(const StepArgs& a, int64_t q0, int64_t q1) {
  switch (a.cell) {
    case CellType::kLstm: return step_cell<4, step_mr(4), WT>(a, q0, q1);
    case CellType::kGru: return step_cell<3, step_mr(3), WT>(a, q0, q1);
    case CellType::kRnn: return step_cell<2, step_mr(2), WT>(a, q0, q1);
  }
}

inline void rnn_step_impl(const StepArgs& a, int64_t q0, int64_t q1) {
  if (a.bf16)
    step_any<uint16_t>(a, q0, q1);
  else
    step_any<float>(a, q0, q1);
}
