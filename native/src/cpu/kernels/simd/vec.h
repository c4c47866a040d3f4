// simd/vec.h — one small vector type per ISA, chosen by the compiler flags of the including file.
//
// Included ONLY from kernels/<isa>/*.cc, inside `namespace rnnx::cpu::<isa>` (each ISA directory
// defines RNNX_ISA_NS before including the *_impl.h files), so every ISA gets its own copy of every
// inline function and the linker can never hand an AVX-512 body to a baseline caller.
// The generic kernels (gemm_impl.h, cells_impl.h) are written against this interface only:
//   V::kWidth, V::zero(), V::set1(x), V::load(p), V::loadu(p), V::store(p, v), V::fmadd(a, b, c),
//   V::add/sub/mul/max/min, V::reduce(v), V::load_partial(p, n), V::store_partial(p, v, n).
#pragma once

#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
struct V {
  __m512 v;
  static constexpr int kWidth = 16;
  static V zero() { return {_mm512_setzero_ps()}; }
  static V set1(float x) { return {_mm512_set1_ps(x)}; }
  static V loadu(const float* p) { return {_mm512_loadu_ps(p)}; }
  static void storeu(float* p, V a) { _mm512_storeu_ps(p, a.v); }
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(mask(n), p)}; }
  static void store_partial(float* p, V a, int n) { _mm512_mask_storeu_ps(p, mask(n), a.v); }
  static V fmadd(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static V fnmadd(V a, V b, V c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
  static V add(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
  static V sub(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
  static V mul(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
  static V div(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
  static V max(V a, V b) { return {_mm512_max_ps(a.v, b.v)}; }
  static V min(V a, V b) { return {_mm512_min_ps(a.v, b.v)}; }
  static float reduce(V a) { return _mm512_reduce_add_ps(a.v); }
  // 2^n for integer-valued n in [-126, 127] (as float)
  static V pow2i(V n) {
    __m512i i = _mm512_cvtps_epi32(n.v);
    return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23))};
  }
  static V round(V a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  static V load_bf16(const uint16_t* p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(w, 16))};
  }
  static V load_i8(const int8_t* p) {
    return {_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))))};
  }
  // 2 * kWidth bf16 values stored as pairs (lane l = {lo[l], hi[l]}): one load, one op per vector
  static void load_bf16_pair(const uint16_t* p, V& lo, V& hi) {
    const __m512i x = _mm512_loadu_si512(p);
    lo = {_mm512_castsi512_ps(_mm512_slli_epi32(x, 16))};
    hi = {_mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))))};
  }
};
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
struct V {
  __m256 v;
  static constexpr int kWidth = 8;
  static V zero() { return {_mm256_setzero_ps()}; }
  static V set1(float x) { return {_mm256_set1_ps(x)}; }
  static V loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
  static void storeu(float* p, V a) { _mm256_storeu_ps(p, a.v); }
  static __m256i mask(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
  }
  static V load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, mask(n))}; }
  static void store_partial(float* p, V a, int n) { _mm256_maskstore_ps(p, mask(n), a.v); }
  static V fmadd(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static V fnmadd(V a, V b, V c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
  static V add(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
  static V sub(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
  static V mul(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
  static V div(V a, V b) { return {_mm256_div_ps(a.v, b.v)}; }
  static V max(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
  static V min(V a, V b) { return {_mm256_min_ps(a.v, b.v)}; }
  static float reduce(V a) {
    __m128 lo = _mm256_castps256_ps128(a.v), hi = _mm256_extractf128_ps(a.v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static V pow2i(V n) {
    __m256i i = _mm256_cvtps_epi32(n.v);
    return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23))};
  }
  static V round(V a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  static V load_bf16(const uint16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(w, 16))};
  }
  static V load_i8(const int8_t* p) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
  }
  static void load_bf16_pair(const uint16_t* p, V& lo, V& hi) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    lo = {_mm256_castsi256_ps(_mm256_slli_epi32(x, 16))};
    hi = {_mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))))};
  }
};
#elif defined(__ARM_NEON) || defined(__aarch64__)
#include <arm_neon.h>
struct V {
  float32x4_t v;
  static constexpr int kWidth = 4;
  static V zero() { return {vdupq_n_f32(0.f)}; }
  static V set1(float x) { return {vdupq_n_f32(x)}; }
  static V loadu(const float* p) { return {vld1q_f32(p)}; }
  static void storeu(float* p, V a) { vst1q_f32(p, a.v); }
  static V load_partial(const float* p, int n) {
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    for (int i = 0; i < n; ++i) t[i] = p[i];
    return {vld1q_f32(t)};
  }
  static void store_partial(float* p, V a, int n) {
    float t[4];
    vst1q_f32(t, a.v);
    for (int i = 0; i < n; ++i) p[i] = t[i];
  }
  static V fmadd(V a, V b, V c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
  static V fnmadd(V a, V b, V c) { return {vfmsq_f32(c.v, a.v, b.v)}; }
  static V add(V a, V b) { return {vaddq_f32(a.v, b.v)}; }
  static V sub(V a, V b) { return {vsubq_f32(a.v, b.v)}; }
  static V mul(V a, V b) { return {vmulq_f32(a.v, b.v)}; }
  static V div(V a, V b) { return {vdivq_f32(a.v, b.v)}; }
  static V max(V a, V b) { return {vmaxq_f32(a.v, b.v)}; }
  static V min(V a, V b) { return {vminq_f32(a.v, b.v)}; }
  static float reduce(V a) { return vaddvq_f32(a.v); }
  static V pow2i(V n) {
    int32x4_t i = vcvtnq_s32_f32(n.v);
    return {vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(i, vdupq_n_s32(127)), 23))};
  }
  static V round(V a) { return {vrndnq_f32(a.v)}; }
  static V load_bf16(const uint16_t* p) {
    return {vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(vld1_u16(p)), 16))};
  }
  static V load_i8(const int8_t* p) {
    int8x8_t b = vreinterpret_s8_s32(vld1_dup_s32(reinterpret_cast<const int32_t*>(p)));
    return {vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b))))};
  }
  static void load_bf16_pair(const uint16_t* p, V& lo, V& hi) {
    const uint32x4_t x = vreinterpretq_u32_u16(vld1q_u16(p));
    lo = {vreinterpretq_f32_u32(vshlq_n_u32(x, 16))};
    hi = {vreinterpretq_f32_u32(vandq_u32(x, vdupq_n_u32(0xFFFF0000u)))};
  }
};
#else
#error "simd/vec.h needs AVX2+FMA, AVX-512F or NEON"
#endif

// exp(x) for x in [-87, 88] (clamped), relative error about 2 ulp: x = n ln2 + r, |r| <= ln2/2,
// exp(r) by a degree-6 polynomial (Taylor coefficients; the remainder term is below 1e-8).
RNNX_ALWAYS_INLINE V vexp(V x) {
  x = V::min(V::max(x, V::set1(-87.0f)), V::set1(88.0f));
  V n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  // r = x - n*ln2 in two parts for accuracy
  V r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  V p = V::set1(1.0f / 720.0f);
  p = V::fmadd(p, r, V::set1(1.0f / 120.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 24.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 6.0f));
  p = V::fmadd(p, r, V::set1(0.5f));
  p = V::fmadd(p, r, V::set1(1.0f));
  p = V::fmadd(p, r, V::set1(1.0f));
  return V::mul(p, V::pow2i(n));
}

RNNX_ALWAYS_INLINE V vsigmoid(V x) {
  return V::div(V::set1(1.0f), V::add(V::set1(1.0f), vexp(V::sub(V::zero(), x))));
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): no cancellation for large |x|; for small
// |x| the absolute error stays at float rounding, which is what the fixtures' relative-to-max error
// measures.
RNNX_ALWAYS_INLINE V vtanh(V x) {
  V ax = V::max(x, V::sub(V::zero(), x));
  V e = vexp(V::mul(ax, V::set1(-2.0f)));
  V t = V::div(V::sub(V::set1(1.0f), e), V::add(V::set1(1.0f), e));
  // restore the sign: t * sign(x) via x >= 0 ? t : -t  ==  copysign
  V neg = V::sub(V::zero(), t);
  // select without a blend primitive: (x >= 0) -> use max/min trick on sign
  // t >= 0 always, so copysign(t, x) = x >= 0 ? t : -t = max(min(x*BIG, t), -t) for |x*BIG| >= t
  V big = V::mul(x, V::set1(3.0e38f));
  return V::max(V::min(big, t), neg);
}
