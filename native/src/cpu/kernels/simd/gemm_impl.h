// simd/gemm_impl.h — float32 GEMMs written against simd/vec.h. Included inside
// `namespace rnnx::cpu::<isa>` by kernels/<isa>/table.cc only (see vec.h).
//
// gemm_nt_packed: C[M,N] (+)= A[M,K] * B[N,K]^T with B packed once (weights) into column panels of
// NR = 2 vectors: panel p = columns [p*NR, p*NR+NR) stored [K][NR], zero-padded past N. The micro-
// kernel keeps an MR x NR block of C in registers and, per k, broadcasts MR values of A and loads
// NR values of B: MR*2 FMAs per 2 loads + MR broadcasts. K is blocked (KC) so a panel slice stays
// in L1, M is blocked (MC) so a block of A stays in L2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

constexpr int kNR = 2 * V::kWidth;
#if defined(__AVX512F__)
constexpr int kMR = 8;
#elif defined(__AVX2__)
constexpr int kMR = 6;
#else
constexpr int kMR = 8;
#endif
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 192;

inline int64_t packed_size_impl(int64_t N, int64_t K) { return ((N + kNR - 1) / kNR) * kNR * K; }

// Column panels of B: element (column j of C, k) is B[j * sj + k * sk]; zero-padded past N.
inline void pack_panels(int64_t N, int64_t K, const float* B, int64_t sj, int64_t sk, float* P) {
  const int64_t panels = (N + kNR - 1) / kNR;
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = P + p * kNR * K;
    const int64_t j0 = p * kNR;
    const int64_t nj = std::min<int64_t>(kNR, N - j0);
    for (int64_t k = 0; k < K; ++k) {
      float* d = dst + k * kNR;
      const float* b = B + j0 * sj + k * sk;
      for (int64_t j = 0; j < nj; ++j) d[j] = b[j * sj];
      for (int64_t j = nj; j < kNR; ++j) d[j] = 0.f;
    }
  }
}

// B given as [N, K] (C = A * B^T: weights in the forward pass).
inline void pack_nt_impl(int64_t N, int64_t K, const float* B, int64_t ldb, float* P) { pack_panels(N, K, B, ldb, 1, P); }

// B given as [K, N] (C = A * B: the backward products).
inline void pack_kn_impl(int64_t N, int64_t K, const float* B, int64_t ldb, float* P) { pack_panels(N, K, B, 1, ldb, P); }

inline V loadw(const float* p) { return V::loadu(p); }
inline V loadw(const uint16_t* p) { return V::load_bf16(p); }
inline V loadw(const int8_t* p) { return V::load_i8(p); }

// A's element (row r, k) of a block: A row-major [M, K] (ld lda), or with AT stored transposed,
// [K, M] (the backward's gate gradients as the left operand of a weight gradient, read in place).
template <bool AT>
inline float a_at(const float* A, int64_t lda, int r, int64_t k) {
  return AT ? A[k * lda + r] : A[r * lda + k];
}

// C block [R rows x nc cols] (+)= A block [R x kc] * panel slice [kc x NR] (times the per-column
// scales `sc` when given); nc <= NR.
template <int R, bool AT, typename W>
inline void micro(int64_t kc, const float* A, int64_t lda, const W* Bp, const float* sc, float* C, int64_t ldc, int nc,
                  bool acc) {
  V c0[R], c1[R];
  for (int r = 0; r < R; ++r) {
    c0[r] = V::zero();
    c1[r] = V::zero();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const V b0 = loadw(Bp + k * kNR);
    const V b1 = loadw(Bp + k * kNR + V::kWidth);
    for (int r = 0; r < R; ++r) {
      const V a = V::set1(a_at<AT>(A, lda, r, k));
      c0[r] = V::fmadd(a, b0, c0[r]);
      c1[r] = V::fmadd(a, b1, c1[r]);
    }
  }
  if (sc) {
    const V s0 = V::loadu(sc), s1 = V::loadu(sc + V::kWidth);
    for (int r = 0; r < R; ++r) {
      c0[r] = V::mul(c0[r], s0);
      c1[r] = V::mul(c1[r], s1);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* c = C + r * ldc;
    if (nc == kNR) {
      if (acc) {
        c0[r] = V::add(c0[r], V::loadu(c));
        c1[r] = V::add(c1[r], V::loadu(c + V::kWidth));
      }
      V::storeu(c, c0[r]);
      V::storeu(c + V::kWidth, c1[r]);
    } else {
      const int n0 = std::min(nc, V::kWidth);
      const int n1 = nc - n0;
      if (acc) c0[r] = V::add(c0[r], V::load_partial(c, n0));
      V::store_partial(c, c0[r], n0);
      if (n1 > 0) {
        if (acc) c1[r] = V::add(c1[r], V::load_partial(c + V::kWidth, n1));
        V::store_partial(c + V::kWidth, c1[r], n1);
      }
    }
  }
}

// One or two rows (batch-1 streaming, small batches): too few independent FMA chains for the
// general kernel (2 per row against FMA latency x throughput of about 8), so K is split over four
// interleaved partial sums per output vector, added at the end. This is the GEMV that streams the
// recurrent weights once per step.
template <int R, bool AT, typename W>
inline void micro_small(int64_t kc, const float* A, int64_t lda, const W* Bp, const float* sc, float* C, int64_t ldc, int nc,
                        bool acc) {
  static_assert(R == 1 || R == 2, "micro_small is for one or two rows");
  V c[R][4][2];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q) c[r][q][0] = c[r][q][1] = V::zero();
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    for (int q = 0; q < 4; ++q) {
      const V b0 = loadw(Bp + (k + q) * kNR);
      const V b1 = loadw(Bp + (k + q) * kNR + V::kWidth);
      for (int r = 0; r < R; ++r) {
        const V a = V::set1(a_at<AT>(A, lda, r, k + q));
        c[r][q][0] = V::fmadd(a, b0, c[r][q][0]);
        c[r][q][1] = V::fmadd(a, b1, c[r][q][1]);
      }
    }
  }
  for (; k < kc; ++k) {
    const V b0 = loadw(Bp + k * kNR);
    const V b1 = loadw(Bp + k * kNR + V::kWidth);
    for (int r = 0; r < R; ++r) {
      const V a = V::set1(a_at<AT>(A, lda, r, k));
      c[r][0][0] = V::fmadd(a, b0, c[r][0][0]);
      c[r][0][1] = V::fmadd(a, b1, c[r][0][1]);
    }
  }
  V s0 = V::zero(), s1 = V::zero();
  if (sc) {
    s0 = V::loadu(sc);
    s1 = V::loadu(sc + V::kWidth);
  }
  for (int r = 0; r < R; ++r) {
    V v0 = V::add(V::add(c[r][0][0], c[r][1][0]), V::add(c[r][2][0], c[r][3][0]));
    V v1 = V::add(V::add(c[r][0][1], c[r][1][1]), V::add(c[r][2][1], c[r][3][1]));
    if (sc) {
      v0 = V::mul(v0, s0);
      v1 = V::mul(v1, s1);
    }
    float* cr = C + r * ldc;
    if (nc == kNR) {
      if (acc) {
        v0 = V::add(v0, V::loadu(cr));
        v1 = V::add(v1, V::loadu(cr + V::kWidth));
      }
      V::storeu(cr, v0);
      V::storeu(cr + V::kWidth, v1);
    } else {
      const int n0 = std::min(nc, V::kWidth);
      const int n1 = nc - n0;
      if (acc) v0 = V::add(v0, V::load_partial(cr, n0));
      V::store_partial(cr, v0, n0);
      if (n1 > 0) {
        if (acc) v1 = V::add(v1, V::load_partial(cr + V::kWidth, n1));
        V::store_partial(cr + V::kWidth, v1, n1);
      }
    }
  }
}

template <bool AT, typename W>
inline void micro_rows(int rows, int64_t kc, const float* A, int64_t lda, const W* Bp, const float* sc, float* C,
                       int64_t ldc, int nc, bool acc) {
  switch (rows) {
    case 1: micro_small<1, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
    case 2: micro_small<2, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
    case 3: micro<3, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
    case 4: micro<4, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
    case 5: micro<5, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
    case 6: micro<6, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
#if defined(__AVX512F__) || defined(__ARM_NEON) || defined(__aarch64__)
    case 7: micro<7, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
    case 8: micro<8, AT>(kc, A, lda, Bp, sc, C, ldc, nc, acc); break;
#endif
    default: break;
  }
}

// Panels [p_begin, p_end) of C's columns, all rows (A transposed when AT, see a_at). Thread-safe
// for disjoint panel ranges.
// With scales (int8), K is not blocked: the scale applies to the whole sum.
template <typename W, bool AT = false>
inline void gemm_panels(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const W* P, const float* scales,
                        float* C, int64_t ldc, bool acc, int64_t p_begin, int64_t p_end) {
  const int64_t KC = scales ? K : kKC;
  // Panels in groups whose K-slices fit in about half of a 1 MiB L2, so that a tall A (all time
  // steps of an input projection) streams past weights that stay in cache, instead of every block
  // of A streaming all the weights in again from L3.
  const int64_t group = std::max<int64_t>(1, (int64_t(512) << 10) / (KC * kNR * static_cast<int64_t>(sizeof(W))));
  for (int64_t g0 = p_begin; g0 < p_end; g0 += group) {
    const int64_t g1 = std::min(p_end, g0 + group);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      const int64_t kc = std::min(KC, K - k0);
      const bool a = acc || k0 > 0;
      for (int64_t i0 = 0; i0 < M; i0 += kMC) {
        const int64_t mc = std::min(kMC, M - i0);
        for (int64_t p = g0; p < g1; ++p) {
          const int64_t j0 = p * kNR;
          const int nc = static_cast<int>(std::min<int64_t>(kNR, N - j0));
          const W* Bp = P + p * kNR * K + k0 * kNR;
          const float* sc = scales ? scales + j0 : nullptr;
          auto a_blk = [&](int64_t i) { return AT ? A + k0 * lda + (i0 + i) : A + (i0 + i) * lda + k0; };
          int64_t i = 0;
          for (; i + kMR <= mc; i += kMR) micro<kMR, AT>(kc, a_blk(i), lda, Bp, sc, C + (i0 + i) * ldc + j0, ldc, nc, a);
          if (i < mc)
            micro_rows<AT>(static_cast<int>(mc - i), kc, a_blk(i), lda, Bp, sc, C + (i0 + i) * ldc + j0, ldc, nc, a);
        }
      }
    }
  }
}

inline void gemm_nt_packed_cols(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* P, float* C,
                                int64_t ldc, bool acc, int64_t p_begin, int64_t p_end) {
  gemm_panels<float>(M, N, K, A, lda, P, nullptr, C, ldc, acc, p_begin, p_end);
}

// The same with A given transposed, [K, M] (ld lda): C (+)= A^T * B^T.
inline void gemm_tn_packed_cols(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* P, float* C,
                                int64_t ldc, bool acc, int64_t p_begin, int64_t p_end) {
  gemm_panels<float, true>(M, N, K, A, lda, P, nullptr, C, ldc, acc, p_begin, p_end);
}

inline void gemm_nt_bf16_cols(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* P, float* C,
                              int64_t ldc, bool acc, int64_t p_begin, int64_t p_end) {
  gemm_panels<uint16_t>(M, N, K, A, lda, P, nullptr, C, ldc, acc, p_begin, p_end);
}

inline void gemm_nt_i8_cols(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const int8_t* P,
                            const float* scales, float* C, int64_t ldc, bool acc, int64_t p_begin, int64_t p_end) {
  gemm_panels<int8_t>(M, N, K, A, lda, P, scales, C, ldc, acc, p_begin, p_end);
}

inline uint16_t bf16_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline void pack_nt_bf16_impl(int64_t N, int64_t K, const float* B, int64_t ldb, uint16_t* P) {
  const int64_t panels = (N + kNR - 1) / kNR;
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < kNR; ++j) {
        const int64_t col = p * kNR + j;
        P[(p * K + k) * kNR + j] = col < N ? bf16_round(B[col * ldb + k]) : 0;
      }
}

// Scales are stored per padded column (panels * NR floats; padding columns get scale 1).
inline void pack_nt_i8_impl(int64_t N, int64_t K, const float* B, int64_t ldb, int8_t* P, float* scales) {
  const int64_t panels = (N + kNR - 1) / kNR;
  for (int64_t col = 0; col < panels * kNR; ++col) {
    float mx = 0;
    if (col < N)
      for (int64_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(B[col * ldb + k]));
    scales[col] = mx > 0 ? mx / 127.f : 1.f;
  }
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < kNR; ++j) {
        const int64_t col = p * kNR + j;
        float q = col < N ? std::nearbyint(B[col * ldb + k] / scales[col]) : 0.f;
        P[(p * K + k) * kNR + j] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, q)));
      }
}

inline int64_t panel_count(int64_t N) { return (N + kNR - 1) / kNR; }

// ---- unpacked products (backward pass): vectorised along the contiguous dimension ----

// C[M,N] (+)= A[M,K] * B[K,N]: rows of C are combinations of rows of B.
inline void gemm_nn_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc, bool acc) {
  constexpr int W = V::kWidth;
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    const float* a = A + i * lda;
    int64_t j = 0;
    for (; j + 4 * W <= N; j += 4 * W) {
      V s0 = acc ? V::loadu(c + j) : V::zero(), s1 = acc ? V::loadu(c + j + W) : V::zero();
      V s2 = acc ? V::loadu(c + j + 2 * W) : V::zero(), s3 = acc ? V::loadu(c + j + 3 * W) : V::zero();
      for (int64_t k = 0; k < K; ++k) {
        const V av = V::set1(a[k]);
        const float* b = B + k * ldb + j;
        s0 = V::fmadd(av, V::loadu(b), s0);
        s1 = V::fmadd(av, V::loadu(b + W), s1);
        s2 = V::fmadd(av, V::loadu(b + 2 * W), s2);
        s3 = V::fmadd(av, V::loadu(b + 3 * W), s3);
      }
      V::storeu(c + j, s0);
      V::storeu(c + j + W, s1);
      V::storeu(c + j + 2 * W, s2);
      V::storeu(c + j + 3 * W, s3);
    }
    for (; j < N; j += W) {
      const int n = static_cast<int>(std::min<int64_t>(W, N - j));
      V s = acc ? V::load_partial(c + j, n) : V::zero();
      for (int64_t k = 0; k < K; ++k) s = V::fmadd(V::set1(a[k]), V::load_partial(B + k * ldb + j, n), s);
      V::store_partial(c + j, s, n);
    }
  }
}

// C[M,N] (+)= A[K,M]^T * B[K,N]: a sum of K rank-1 updates; C rows stay in cache across k blocks.
inline void gemm_tn_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc, bool acc) {
  constexpr int W = V::kWidth;
  if (!acc)
    for (int64_t i = 0; i < M; ++i) std::fill_n(C + i * ldc, N, 0.f);
  constexpr int64_t KB = 64;
  for (int64_t k0 = 0; k0 < K; k0 += KB) {
    const int64_t k1 = std::min(K, k0 + KB);
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      int64_t j = 0;
      for (; j + 2 * W <= N; j += 2 * W) {
        V s0 = V::loadu(c + j), s1 = V::loadu(c + j + W);
        for (int64_t k = k0; k < k1; ++k) {
          const V av = V::set1(A[k * lda + i]);
          s0 = V::fmadd(av, V::loadu(B + k * ldb + j), s0);
          s1 = V::fmadd(av, V::loadu(B + k * ldb + j + W), s1);
        }
        V::storeu(c + j, s0);
        V::storeu(c + j + W, s1);
      }
      for (; j < N; j += W) {
        const int n = static_cast<int>(std::min<int64_t>(W, N - j));
        V s = V::load_partial(c + j, n);
        for (int64_t k = k0; k < k1; ++k) s = V::fmadd(V::set1(A[k * lda + i]), V::load_partial(B + k * ldb + j, n), s);
        V::store_partial(c + j, s, n);
      }
    }
  }
}

// C[M,N] (+)= A[M,K] * B[N,K]^T without packing (dot products along K): for small or one-off products.
inline void gemm_nt_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc, bool acc) {
  constexpr int W = V::kWidth;
  for (int64_t i = 0; i < M; ++i) {
    const float* a = A + i * lda;
    for (int64_t j = 0; j < N; ++j) {
      const float* b = B + j * ldb;
      V s = V::zero();
      int64_t k = 0;
      for (; k + W <= K; k += W) s = V::fmadd(V::loadu(a + k), V::loadu(b + k), s);
      if (k < K) {
        const int n = static_cast<int>(K - k);
        s = V::fmadd(V::load_partial(a + k, n), V::load_partial(b + k, n), s);
      }
      const float v = V::reduce(s);
      C[i * ldc + j] = acc ? C[i * ldc + j] + v : v;
    }
  }
}
