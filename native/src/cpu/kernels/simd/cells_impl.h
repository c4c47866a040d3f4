// simd/cells_impl.h — vectorised cell kernels for the standard activations (sigmoid gates, tanh
// candidate and cell output, no clip; RNN tanh or relu). Any other configuration falls back to the
// scalar reference kernels, which handle every ONNX activation. Included inside
// `namespace rnnx::cpu::<isa>` by kernels/<isa>/table.cc only (see vec.h).
#pragma once

#include <algorithm>
#include <cstdint>

#include "../kernels.h"

inline bool standard_gates(const CellParams<float>& p) {
  return p.f == Activation::kSigmoid && p.g == Activation::kTanh && p.h == Activation::kTanh && p.clip == 0.f &&
         p.peep == nullptr && !p.input_forget;
}

// Loops over [0, H) in vectors with a masked tail; F(j, n) gets the element offset and lane count.
template <typename F>
inline void for_lanes(int64_t H, F&& f) {
  int64_t j = 0;
  for (; j + V::kWidth <= H; j += V::kWidth) f(j, V::kWidth);
  if (j < H) f(j, static_cast<int>(H - j));
}

inline V ld(const float* p, int n) { return n == V::kWidth ? V::loadu(p) : V::load_partial(p, n); }
inline void st(float* p, V v, int n) {
  if (n == V::kWidth)
    V::storeu(p, v);
  else
    V::store_partial(p, v, n);
}

inline void lstm_fwd_v(const CellParams<float>& p, int64_t H, const float* pre, const float* c_prev, float* c, float* hout) {
  if (!standard_gates(p)) return scalar::table<float>().lstm_fwd(p, H, pre, c_prev, c, hout);
  for_lanes(H, [&](int64_t j, int n) {
    const V i = vsigmoid(ld(pre + j, n)), f = vsigmoid(ld(pre + H + j, n));
    const V g = vtanh(ld(pre + 2 * H + j, n)), o = vsigmoid(ld(pre + 3 * H + j, n));
    const V cj = V::fmadd(f, ld(c_prev + j, n), V::mul(i, g));
    st(c + j, cj, n);
    st(hout + j, V::mul(o, vtanh(cj)), n);
  });
}

inline void lstm_hout_v(const CellParams<float>& p, int64_t H, const float* pre, const float* c, float* hout) {
  if (!standard_gates(p)) return scalar::table<float>().lstm_hout(p, H, pre, c, hout);
  for_lanes(H, [&](int64_t j, int n) { st(hout + j, V::mul(vsigmoid(ld(pre + 3 * H + j, n)), vtanh(ld(c + j, n))), n); });
}

inline void lstm_bwd_v(const CellParams<float>& p, int64_t H, const float* pre, const float* c_prev, const float* c,
                       const float* dhout, float* dc, float* dpre) {
  if (!standard_gates(p)) return scalar::table<float>().lstm_bwd(p, H, pre, c_prev, c, dhout, dc, dpre);
  const V one = V::set1(1.f);
  for_lanes(H, [&](int64_t j, int n) {
    const V i = vsigmoid(ld(pre + j, n)), f = vsigmoid(ld(pre + H + j, n));
    const V g = vtanh(ld(pre + 2 * H + j, n)), o = vsigmoid(ld(pre + 3 * H + j, n));
    const V tc = vtanh(ld(c + j, n));
    const V dho = ld(dhout + j, n);
    const V dct = V::fmadd(V::mul(dho, o), V::fnmadd(tc, tc, one), ld(dc + j, n));
    st(dpre + j, V::mul(V::mul(dct, g), V::mul(i, V::sub(one, i))), n);
    st(dpre + H + j, V::mul(V::mul(dct, ld(c_prev + j, n)), V::mul(f, V::sub(one, f))), n);
    st(dpre + 2 * H + j, V::mul(V::mul(dct, i), V::fnmadd(g, g, one)), n);
    st(dpre + 3 * H + j, V::mul(V::mul(dho, tc), V::mul(o, V::sub(one, o))), n);
    st(dc + j, V::mul(dct, f), n);
  });
}

inline void gru_fwd_v(const CellParams<float>& p, int64_t H, bool lbr, const float* xw, const float* hh, const float* h_prev,
                      float* h, float* store) {
  if (!standard_gates(p)) return scalar::table<float>().gru_fwd(p, H, lbr, xw, hh, h_prev, h, store);
  for_lanes(H, [&](int64_t j, int n) {
    const V pr = V::add(ld(xw + j, n), ld(hh + j, n));
    const V pz = V::add(ld(xw + H + j, n), ld(hh + H + j, n));
    const V r = vsigmoid(pr), z = vsigmoid(pz);
    const V hn = ld(hh + 2 * H + j, n);
    const V xn = ld(xw + 2 * H + j, n);
    const V pn = lbr ? V::fmadd(r, hn, xn) : V::add(xn, hn);
    const V nn = vtanh(pn);
    const V hp = ld(h_prev + j, n);
    st(h + j, V::fmadd(z, V::sub(hp, nn), nn), n);
    st(store + j, pr, n);
    st(store + H + j, pz, n);
    st(store + 2 * H + j, pn, n);
    st(store + 3 * H + j, hn, n);
  });
}

inline void gru_reset_v(const CellParams<float>& p, int64_t H, const float* xw, const float* hh, const float* h_prev, float* rh) {
  if (!standard_gates(p)) return scalar::table<float>().gru_reset(p, H, xw, hh, h_prev, rh);
  for_lanes(H, [&](int64_t j, int n) {
    st(rh + j, V::mul(vsigmoid(V::add(ld(xw + j, n), ld(hh + j, n))), ld(h_prev + j, n)), n);
  });
}

inline void gru_rh_v(const CellParams<float>& p, int64_t H, const float* store, const float* h_prev, float* rh) {
  if (!standard_gates(p)) return scalar::table<float>().gru_rh(p, H, store, h_prev, rh);
  for_lanes(H, [&](int64_t j, int n) { st(rh + j, V::mul(vsigmoid(ld(store + j, n)), ld(h_prev + j, n)), n); });
}

inline void gru_bwd_v(const CellParams<float>& p, int64_t H, bool lbr, const float* store, const float* h_prev, const float* dh,
                      float* dxw, float* dhh, float* dh_prev) {
  if (!standard_gates(p)) return scalar::table<float>().gru_bwd(p, H, lbr, store, h_prev, dh, dxw, dhh, dh_prev);
  const V one = V::set1(1.f);
  for_lanes(H, [&](int64_t j, int n) {
    const V r = vsigmoid(ld(store + j, n)), z = vsigmoid(ld(store + H + j, n));
    const V nn = vtanh(ld(store + 2 * H + j, n));
    const V hn = ld(store + 3 * H + j, n);
    const V d = ld(dh + j, n);
    const V dpn = V::mul(V::mul(d, V::sub(one, z)), V::fnmadd(nn, nn, one));
    const V dpz = V::mul(V::mul(d, V::sub(ld(h_prev + j, n), nn)), V::mul(z, V::sub(one, z)));
    st(dxw + H + j, dpz, n);
    st(dhh + H + j, dpz, n);
    st(dxw + 2 * H + j, dpn, n);
    if (lbr) {
      const V dpr = V::mul(V::mul(dpn, hn), V::mul(r, V::sub(one, r)));
      st(dxw + j, dpr, n);
      st(dhh + j, dpr, n);
      st(dhh + 2 * H + j, V::mul(dpn, r), n);
    } else {
      st(dxw + j, V::zero(), n);
      st(dhh + j, V::zero(), n);
      st(dhh + 2 * H + j, dpn, n);
    }
    st(dh_prev + j, V::mul(d, z), n);
  });
}

inline void gru_bwd_reset_v(const CellParams<float>& p, int64_t H, const float* store, const float* h_prev, const float* drh,
                            float* dxw, float* dhh, float* dh_prev) {
  if (!standard_gates(p)) return scalar::table<float>().gru_bwd_reset(p, H, store, h_prev, drh, dxw, dhh, dh_prev);
  const V one = V::set1(1.f);
  for_lanes(H, [&](int64_t j, int n) {
    const V r = vsigmoid(ld(store + j, n));
    const V g = ld(drh + j, n);
    const V dpr = V::mul(V::mul(g, ld(h_prev + j, n)), V::mul(r, V::sub(one, r)));
    st(dxw + j, dpr, n);
    st(dhh + j, dpr, n);
    st(dh_prev + j, V::fmadd(g, r, ld(dh_prev + j, n)), n);
  });
}

inline bool rnn_fast(const CellParams<float>& p) {
  return (p.f == Activation::kTanh || p.f == Activation::kRelu) && p.clip == 0.f;
}

inline void rnn_fwd_v(const CellParams<float>& p, int64_t H, const float* pre, float* h) {
  if (!rnn_fast(p)) return scalar::table<float>().rnn_fwd(p, H, pre, h);
  const bool relu = p.f == Activation::kRelu;
  for_lanes(H, [&](int64_t j, int n) {
    const V x = ld(pre + j, n);
    st(h + j, relu ? V::max(x, V::zero()) : vtanh(x), n);
  });
}

inline void rnn_bwd_v(const CellParams<float>& p, int64_t H, const float* pre, const float* dh, float* dpre) {
  if (!rnn_fast(p) || p.f == Activation::kRelu) return scalar::table<float>().rnn_bwd(p, H, pre, dh, dpre);
  const V one = V::set1(1.f);
  for_lanes(H, [&](int64_t j, int n) {
    const V t = vtanh(ld(pre + j, n));
    st(dpre + j, V::mul(ld(dh + j, n), V::fnmadd(t, t, one)), n);
  });
}
