// gemm.cc — reference matrix products (row-major). Straightforward loops in an order that keeps
// the innermost loop contiguous; accumulation in the element type.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../kernels.h"

namespace rnnx::cpu::scalar {

// C[M,N] = (acc ? C : 0) + A[M,K] * B[N,K]^T : row i of C is dot products of A's row i with B's rows.
template <typename T>
void gemm_nt(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
             int64_t ldc, bool acc) {
  for (int64_t i = 0; i < M; ++i) {
    const T* a = A + i * lda;
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) {
      const T* b = B + j * ldb;
      T s = T(0);
      for (int64_t k = 0; k < K; ++k) s += a[k] * b[k];
      c[j] = acc ? c[j] + s : s;
    }
  }
}

// C[M,N] = (acc ? C : 0) + A[M,K] * B[K,N]
template <typename T>
void gemm_nn(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
             int64_t ldc, bool acc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (!acc)
      for (int64_t j = 0; j < N; ++j) c[j] = T(0);
    const T* a = A + i * lda;
    for (int64_t k = 0; k < K; ++k) {
      const T av = a[k];
      const T* b = B + k * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += av * b[j];
    }
  }
}

// C[M,N] = (acc ? C : 0) + A[K,M]^T * B[K,N]
template <typename T>
void gemm_tn(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
             int64_t ldc, bool acc) {
  if (!acc)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = T(0);
  for (int64_t k = 0; k < K; ++k) {
    const T* a = A + k * lda;
    const T* b = B + k * ldb;
    for (int64_t i = 0; i < M; ++i) {
      const T av = a[i];
      T* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] += av * b[j];
    }
  }
}

// "Packing" for the scalar table is a plain copy of B's rows (one panel per column of C).
template <typename T>
int64_t packed_size(int64_t N, int64_t K) {
  return N * K;
}

template <typename T>
void pack_nt(int64_t N, int64_t K, const T* B, int64_t ldb, T* P) {
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) P[j * K + k] = B[j * ldb + k];
}

template <typename T>
void pack_kn(int64_t N, int64_t K, const T* B, int64_t ldb, T* P) {
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) P[j * K + k] = B[k * ldb + j];
}

template <typename T>
void gemm_nt_packed(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* P, T* C, int64_t ldc, bool acc,
                    int64_t p0, int64_t p1) {
  (void)N;
  gemm_nt<T>(M, p1 - p0, K, A, lda, P + p0 * K, K, C + p0, ldc, acc);
}

template <typename T>
void gemm_tn_packed(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* P, T* C, int64_t ldc, bool acc,
                    int64_t p0, int64_t p1) {
  (void)N;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = p0; j < p1; ++j) {
      T s = 0;
      for (int64_t k = 0; k < K; ++k) s += A[k * lda + i] * P[j * K + k];
      C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;
    }
}

// ---- reduced precision (float tables only) ----
namespace {
uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
}  // namespace

void pack_nt_bf16(int64_t N, int64_t K, const float* B, int64_t ldb, uint16_t* P) {
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) P[j * K + k] = to_bf16(B[j * ldb + k]);
}

void gemm_nt_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* P, float* C, int64_t ldc,
                  bool acc, int64_t p0, int64_t p1) {
  (void)N;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = p0; j < p1; ++j) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s += A[i * lda + k] * from_bf16(P[j * K + k]);
      C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;
    }
}

void pack_nt_i8(int64_t N, int64_t K, const float* B, int64_t ldb, int8_t* P, float* scales) {
  for (int64_t j = 0; j < N; ++j) {
    float mx = 0;
    for (int64_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(B[j * ldb + k]));
    const float sc = mx > 0 ? mx / 127.f : 1.f;
    scales[j] = sc;
    for (int64_t k = 0; k < K; ++k) {
      float q = std::nearbyint(B[j * ldb + k] / sc);
      P[j * K + k] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, q)));
    }
  }
}

void gemm_nt_i8(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const int8_t* P, const float* scales, float* C,
                int64_t ldc, bool acc, int64_t p0, int64_t p1) {
  (void)N;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = p0; j < p1; ++j) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s += A[i * lda + k] * static_cast<float>(P[j * K + k]);
      s *= scales[j];
      C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;
    }
}

template int64_t packed_size<float>(int64_t, int64_t);
template int64_t packed_size<double>(int64_t, int64_t);
template void pack_nt<float>(int64_t, int64_t, const float*, int64_t, float*);
template void pack_kn<float>(int64_t, int64_t, const float*, int64_t, float*);
template void pack_kn<double>(int64_t, int64_t, const double*, int64_t, double*);
template void pack_nt<double>(int64_t, int64_t, const double*, int64_t, double*);
template void gemm_nt_packed<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t, bool, int64_t, int64_t);
template void gemm_nt_packed<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, double*, int64_t, bool, int64_t, int64_t);
template void gemm_tn_packed<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t, bool, int64_t, int64_t);
template void gemm_tn_packed<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, double*, int64_t, bool, int64_t, int64_t);

template void gemm_nt<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);
template void gemm_nt<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*, int64_t, bool);
template void gemm_nn<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);
template void gemm_nn<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*, int64_t, bool);
template void gemm_tn<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);
template void gemm_tn<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*, int64_t, bool);

}  // namespace rnnx::cpu::scalar
