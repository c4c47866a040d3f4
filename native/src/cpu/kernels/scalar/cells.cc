// cells.cc — reference cell kernels (forward and backward) and the scalar KernelTable.
// Gate blocks and equations as in rnnx/cell.h. Every activation is applied to clip(pre), with
// clip's gradient mask in the backward pass; derivatives are computed from the stored
// pre-activations, so every ONNX activation (including non-invertible ones) has an exact gradient.
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "../kernels.h"
#include "activations.h"

namespace rnnx::cpu::scalar {

template <typename T>
void gemm_nt(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, bool);
template <typename T>
void gemm_nn(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, bool);
template <typename T>
void gemm_tn(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, bool);
void pack_nt_bf16(int64_t, int64_t, const float*, int64_t, uint16_t*);
void gemm_nt_bf16(int64_t, int64_t, int64_t, const float*, int64_t, const uint16_t*, float*, int64_t, bool, int64_t, int64_t);
void pack_nt_i8(int64_t, int64_t, const float*, int64_t, int8_t*, float*);
void gemm_nt_i8(int64_t, int64_t, int64_t, const float*, int64_t, const int8_t*, const float*, float*, int64_t, bool, int64_t,
                int64_t);
template <typename T>
int64_t packed_size(int64_t, int64_t);
template <typename T>
void pack_nt(int64_t, int64_t, const T*, int64_t, T*);
template <typename T>
void pack_kn(int64_t, int64_t, const T*, int64_t, T*);
template <typename T>
void gemm_nt_packed(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t, bool, int64_t, int64_t);
template <typename T>
void gemm_tn_packed(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t, bool, int64_t, int64_t);

namespace {

template <typename T>
struct Acts {
  const CellParams<T>& p;
  T f(T x) const { return act(p.f, p.f_alpha, p.f_beta, clip_value(x, p.clip)); }
  T g(T x) const { return act(p.g, p.g_alpha, p.g_beta, clip_value(x, p.clip)); }
  // The cell output activation takes the unclipped cell state, as onnxruntime does: clip bounds the
  // gate pre-activations only.
  T h(T x) const { return act(p.h, p.h_alpha, p.h_beta, x); }
  T df(T x) const { return dact(p.f, p.f_alpha, p.f_beta, clip_value(x, p.clip)) * clip_grad(x, p.clip); }
  T dg(T x) const { return dact(p.g, p.g_alpha, p.g_beta, clip_value(x, p.clip)) * clip_grad(x, p.clip); }
  T dh(T x) const { return dact(p.h, p.h_alpha, p.h_beta, x); }
};

// ---- LSTM: pre = [i | f | g | o] ----
template <typename T>
void lstm_fwd(const CellParams<T>& p, int64_t H, const T* pre, const T* c_prev, T* c, T* hout) {
  Acts<T> a{p};
  const T* P = p.peep;
  for (int64_t j = 0; j < H; ++j) {
    const T pi = pre[j] + (P ? P[j] * c_prev[j] : T(0));
    const T i = a.f(pi);
    const T f = p.input_forget ? T(1) - i : a.f(pre[H + j] + (P ? P[H + j] * c_prev[j] : T(0)));
    const T g = a.g(pre[2 * H + j]);
    const T cj = f * c_prev[j] + i * g;
    const T o = a.f(pre[3 * H + j] + (P ? P[2 * H + j] * cj : T(0)));
    c[j] = cj;
    hout[j] = o * a.h(cj);
  }
}

template <typename T>
void lstm_hout(const CellParams<T>& p, int64_t H, const T* pre, const T* c, T* hout) {
  Acts<T> a{p};
  const T* P = p.peep;
  for (int64_t j = 0; j < H; ++j) hout[j] = a.f(pre[3 * H + j] + (P ? P[2 * H + j] * c[j] : T(0))) * a.h(c[j]);
}

// pre holds the product terms only; peephole terms are added here as in forward, and dpre is the
// gradient of those product terms (equal to that of the full pre-activations). The peephole weight
// gradients are reduced over all steps by the core from dpre and the stored cell states.
template <typename T>
void lstm_bwd(const CellParams<T>& p, int64_t H, const T* pre, const T* c_prev, const T* c, const T* dhout, T* dc,
              T* dpre) {
  Acts<T> a{p};
  const T* P = p.peep;
  for (int64_t j = 0; j < H; ++j) {
    const T pi = pre[j] + (P ? P[j] * c_prev[j] : T(0));
    const T pf = pre[H + j] + (P ? P[H + j] * c_prev[j] : T(0));
    const T pg = pre[2 * H + j];
    const T po = pre[3 * H + j] + (P ? P[2 * H + j] * c[j] : T(0));
    const T i = a.f(pi), g = a.g(pg), o = a.f(po);
    const T f = p.input_forget ? T(1) - i : a.f(pf);
    const T hc = a.h(c[j]);
    const T dho = dhout[j];
    const T dpo = dho * hc * a.df(po);
    T dct = dc[j] + dho * o * a.dh(c[j]);
    if (P) dct += dpo * P[2 * H + j];
    T dpi, dpf;
    if (p.input_forget) {
      dpi = dct * (g - c_prev[j]) * a.df(pi);  // f = 1 - i
      dpf = T(0);
    } else {
      dpi = dct * g * a.df(pi);
      dpf = dct * c_prev[j] * a.df(pf);
    }
    dpre[j] = dpi;
    dpre[H + j] = dpf;
    dpre[2 * H + j] = dct * i * a.dg(pg);
    dpre[3 * H + j] = dpo;
    T dcp = dct * f;
    if (P) dcp += dpi * P[j] + dpf * P[H + j];
    dc[j] = dcp;
  }
}

// ---- GRU: xw, hh = [r | z | n]; store = [pre_r | pre_z | pre_n | hh_n] ----
template <typename T>
void gru_fwd(const CellParams<T>& p, int64_t H, bool lbr, const T* xw, const T* hh, const T* h_prev, T* h,
             T* store) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) {
    const T pr = xw[j] + hh[j];
    const T pz = xw[H + j] + hh[H + j];
    const T r = a.f(pr), z = a.f(pz);
    const T hn = hh[2 * H + j];
    const T pn = lbr ? xw[2 * H + j] + r * hn : xw[2 * H + j] + hn;
    const T n = a.g(pn);
    h[j] = (T(1) - z) * n + z * h_prev[j];
    store[j] = pr;
    store[H + j] = pz;
    store[2 * H + j] = pn;
    store[3 * H + j] = hn;
  }
}

template <typename T>
void gru_reset(const CellParams<T>& p, int64_t H, const T* xw, const T* hh, const T* h_prev, T* rh) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) rh[j] = a.f(xw[j] + hh[j]) * h_prev[j];
}

template <typename T>
void gru_rh(const CellParams<T>& p, int64_t H, const T* store, const T* h_prev, T* rh) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) rh[j] = a.f(store[j]) * h_prev[j];
}

template <typename T>
void gru_bwd(const CellParams<T>& p, int64_t H, bool lbr, const T* store, const T* h_prev, const T* dh, T* dxw,
             T* dhh, T* dh_prev) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) {
    const T pr = store[j], pz = store[H + j], pn = store[2 * H + j], hn = store[3 * H + j];
    const T r = a.f(pr), z = a.f(pz), n = a.g(pn);
    const T d = dh[j];
    const T dpn = d * (T(1) - z) * a.dg(pn);
    const T dpz = d * (h_prev[j] - n) * a.df(pz);
    dxw[H + j] = dpz;
    dhh[H + j] = dpz;
    dxw[2 * H + j] = dpn;
    if (lbr) {
      const T dpr = dpn * hn * a.df(pr);
      dxw[j] = dpr;
      dhh[j] = dpr;
      dhh[2 * H + j] = dpn * r;
    } else {
      dxw[j] = T(0);
      dhh[j] = T(0);
      dhh[2 * H + j] = dpn;
    }
    dh_prev[j] = d * z;
  }
}

template <typename T>
void gru_bwd_reset(const CellParams<T>& p, int64_t H, const T* store, const T* h_prev, const T* drh, T* dxw,
                   T* dhh, T* dh_prev) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) {
    const T pr = store[j];
    const T r = a.f(pr);
    const T dpr = drh[j] * h_prev[j] * a.df(pr);
    dxw[j] = dpr;
    dhh[j] = dpr;
    dh_prev[j] += drh[j] * r;
  }
}

// ---- RNN ----
template <typename T>
void rnn_fwd(const CellParams<T>& p, int64_t H, const T* pre, T* h) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) h[j] = a.f(pre[j]);
}

template <typename T>
void rnn_bwd(const CellParams<T>& p, int64_t H, const T* pre, const T* dh, T* dpre) {
  Acts<T> a{p};
  for (int64_t j = 0; j < H; ++j) dpre[j] = dh[j] * a.df(pre[j]);
}

// Scalar multiply-add throughput (8 independent chains), for the benchmarks' baseline.
double scalar_peak(double seconds) {
  float a[8];
  for (int i = 0; i < 8; ++i) a[i] = 1.0f + 1e-3f * static_cast<float>(i);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t iters = 0;
  double el = 0;
  do {
    for (int r = 0; r < 1000; ++r)
      for (int i = 0; i < 8; ++i) a[i] = a[i] * 0.999999f + 1e-7f;
    iters += 1000;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < seconds);
  volatile float keep = a[0] + a[7];
  (void)keep;
  return static_cast<double>(iters) * 8.0 * 2.0 / el / 1e9;
}

template <typename T>
KernelTable<T> make_table() {
  KernelTable<T> t;
  t.isa = "scalar";
  t.vector_width = 1;
  t.gemm_nt = &gemm_nt<T>;
  t.gemm_nn = &gemm_nn<T>;
  t.gemm_tn = &gemm_tn<T>;
  t.nr = 1;
  t.packed_size = &packed_size<T>;
  t.pack_nt = &pack_nt<T>;
  t.pack_kn = &pack_kn<T>;
  t.gemm_nt_packed = &gemm_nt_packed<T>;
  t.gemm_tn_packed = &gemm_tn_packed<T>;
  t.lstm_fwd = &lstm_fwd<T>;
  t.lstm_hout = &lstm_hout<T>;
  t.lstm_bwd = &lstm_bwd<T>;
  t.gru_fwd = &gru_fwd<T>;
  t.gru_reset = &gru_reset<T>;
  t.gru_bwd = &gru_bwd<T>;
  t.gru_bwd_reset = &gru_bwd_reset<T>;
  t.gru_rh = &gru_rh<T>;
  t.rnn_fwd = &rnn_fwd<T>;
  t.rnn_bwd = &rnn_bwd<T>;
  t.fma_peak = &scalar_peak;
  if constexpr (std::is_same_v<T, float>) {
    t.pack_nt_bf16 = &pack_nt_bf16;
    t.gemm_nt_bf16 = &gemm_nt_bf16;
    t.pack_nt_i8 = &pack_nt_i8;
    t.gemm_nt_i8 = &gemm_nt_i8;
  } else {
    t.pack_nt_bf16 = nullptr;
    t.gemm_nt_bf16 = nullptr;
    t.pack_nt_i8 = nullptr;
    t.gemm_nt_i8 = nullptr;
  }
  return t;
}

}  // namespace

template <typename T>
const KernelTable<T>& table() {
  static const KernelTable<T> t = make_table<T>();
  return t;
}

template const KernelTable<float>& table<float>();
template const KernelTable<double>& table<double>();

}  // namespace rnnx::cpu::scalar
