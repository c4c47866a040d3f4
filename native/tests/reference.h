// reference.h — an independent, deliberately naive float64 implementation of the recurrent stack,
// written from the formulas in rnnx/cell.h and the layouts in rnnx/rnn.h (not from the core's
// code), plus the activation list. The oracle for the forward-pass tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "rnnx/cell.h"
#include "rnnx/rnn.h"

namespace rnnx_test {

/// Every activation kind with the parameters the tests use (tfjs / ONNX-style values).
inline std::vector<std::pair<std::string, rnnx::ActSpec>> all_activations() {
  using rnnx::Activation;
  return {
      {"sigmoid", {Activation::kSigmoid, 0, 0}},
      {"tanh", {Activation::kTanh, 0, 0}},
      {"relu", {Activation::kRelu, 0, 0}},
      {"hard_sigmoid", {Activation::kHardSigmoid, 0.2, 0.5}},
      {"affine", {Activation::kAffine, 0.9, 0.1}},
      {"leaky_relu", {Activation::kLeakyRelu, 0.1, 0}},
      {"thresholded_relu", {Activation::kThresholdedRelu, 0.3, 0}},
      {"scaled_tanh", {Activation::kScaledTanh, 1.3, 0.7}},
      {"elu", {Activation::kElu, 1.0, 0}},
      {"softsign", {Activation::kSoftsign, 0, 0}},
      {"softplus", {Activation::kSoftplus, 0, 0}},
  };
}

inline double ref_act(const rnnx::ActSpec& a, double x) {
  using rnnx::Activation;
  switch (a.kind) {
    case Activation::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Activation::kTanh: return std::tanh(x);
    case Activation::kRelu: return x > 0 ? x : 0.0;
    case Activation::kHardSigmoid: return std::min(1.0, std::max(0.0, a.alpha * x + a.beta));
    case Activation::kAffine: return a.alpha * x + a.beta;
    case Activation::kLeakyRelu: return x >= 0 ? x : a.alpha * x;
    case Activation::kThresholdedRelu: return x > a.alpha ? x : 0.0;
    case Activation::kScaledTanh: return a.alpha * std::tanh(a.beta * x);
    case Activation::kElu: return x >= 0 ? x : a.alpha * (std::exp(x) - 1.0);
    case Activation::kSoftsign: return x / (1.0 + std::fabs(x));
    case Activation::kSoftplus: return std::log1p(std::exp(x));
  }
  return NAN;
}

/// Result of a reference forward: y in the caller's layout, hn [L*D, B, R], cn [L*D, B, H].
struct RefOut {
  std::vector<double> y, hn, cn;
};

/// Runs the stack described by cfg with weights laid out as param_specs(cfg) says.
/// x in the caller's layout; h0 / c0 / lengths may be null (zeros / full length).
inline RefOut ref_forward(const rnnx::RnnConfig& cfg, const std::vector<double>& w, int64_t T, int64_t B,
                          const double* x, const double* h0, const double* c0, const int32_t* lengths) {
  using rnnx::CellType;
  using rnnx::ParamKind;
  const auto specs = rnnx::param_specs(cfg);
  std::map<std::tuple<int, int, int>, const double*> param;
  for (const auto& s : specs) param[{s.layer, s.dir, static_cast<int>(s.kind)}] = w.data() + s.offset;
  auto P = [&](int l, int d, ParamKind k) -> const double* {
    auto it = param.find({l, d, static_cast<int>(k)});
    return it == param.end() ? nullptr : it->second;
  };

  const int64_t H = cfg.hidden_size, R = cfg.state_size(), D = cfg.dirs(), L = cfg.num_layers;
  const int64_t I = cfg.input_size, G = cfg.gates() * H, O = D * R;
  auto clip = [&](double v) { return cfg.clip > 0 ? std::min(cfg.clip, std::max(-cfg.clip, v)) : v; };

  // Time-major copy of the input.
  std::vector<double> in(static_cast<size_t>(T * B * I));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < I; ++i)
        in[(t * B + b) * I + i] = cfg.batch_first ? x[(b * T + t) * I + i] : x[(t * B + b) * I + i];

  RefOut out;
  out.hn.assign(static_cast<size_t>(L * D * B * R), 0.0);
  out.cn.assign(static_cast<size_t>(L * D * B * H), 0.0);
  std::vector<double> layer_out;
  int64_t in_w = I;
  for (int l = 0; l < L; ++l) {
    layer_out.assign(static_cast<size_t>(T * B * O), 0.0);
    for (int d = 0; d < D; ++d) {
      const double* Wih = P(l, d, ParamKind::kWeightIh);
      const double* Whh = P(l, d, ParamKind::kWeightHh);
      const double* bih = P(l, d, ParamKind::kBiasIh);
      const double* bhh = P(l, d, ParamKind::kBiasHh);
      const double* Whr = P(l, d, ParamKind::kWeightHr);
      const int64_t sd = l * D + d;
      for (int64_t b = 0; b < B; ++b) {
        std::vector<double> h(static_cast<size_t>(R), 0.0), c(static_cast<size_t>(H), 0.0);
        if (h0)
          for (int64_t r = 0; r < R; ++r) h[r] = h0[(sd * B + b) * R + r];
        if (c0 && cfg.cell == CellType::kLstm)
          for (int64_t k = 0; k < H; ++k) c[k] = c0[(sd * B + b) * H + k];
        const int64_t len = lengths ? lengths[b] : T;
        for (int64_t s = 0; s < len; ++s) {
          const int64_t t = d == 0 ? s : len - 1 - s;
          const double* xt = &in[(t * B + b) * in_w];
          std::vector<double> xw(static_cast<size_t>(G)), hh(static_cast<size_t>(G));
          for (int64_t g = 0; g < G; ++g) {
            double a = bih ? bih[g] : 0.0, r = bhh ? bhh[g] : 0.0;
            for (int64_t i = 0; i < in_w; ++i) a += Wih[g * in_w + i] * xt[i];
            for (int64_t j = 0; j < R; ++j) r += Whh[g * R + j] * h[j];
            xw[g] = a;
            hh[g] = r;
          }
          std::vector<double> hnew(static_cast<size_t>(R));
          if (cfg.cell == CellType::kLstm) {
            std::vector<double> hc(static_cast<size_t>(H));
            for (int64_t k = 0; k < H; ++k) {
              double gi = ref_act(cfg.f, clip(xw[k] + hh[k]));
              double gf = ref_act(cfg.f, clip(xw[H + k] + hh[H + k]));
              double gg = ref_act(cfg.g, clip(xw[2 * H + k] + hh[2 * H + k]));
              double go = ref_act(cfg.f, clip(xw[3 * H + k] + hh[3 * H + k]));
              c[k] = gf * c[k] + gi * gg;
              hc[k] = go * ref_act(cfg.h, c[k]);
            }
            if (Whr) {
              for (int64_t p = 0; p < R; ++p) {
                double a = 0;
                for (int64_t k = 0; k < H; ++k) a += Whr[p * H + k] * hc[k];
                hnew[p] = a;
              }
            } else {
              hnew = hc;
            }
          } else if (cfg.cell == CellType::kGru) {
            std::vector<double> r(static_cast<size_t>(H)), z(static_cast<size_t>(H));
            for (int64_t k = 0; k < H; ++k) {
              r[k] = ref_act(cfg.f, clip(xw[k] + hh[k]));
              z[k] = ref_act(cfg.f, clip(xw[H + k] + hh[H + k]));
            }
            for (int64_t k = 0; k < H; ++k) {
              double pre_n;
              if (cfg.linear_before_reset) {
                pre_n = xw[2 * H + k] + r[k] * hh[2 * H + k];
              } else {
                double a = bhh ? bhh[2 * H + k] : 0.0;
                for (int64_t j = 0; j < H; ++j) a += Whh[(2 * H + k) * H + j] * (r[j] * h[j]);
                pre_n = xw[2 * H + k] + a;
              }
              double n = ref_act(cfg.g, clip(pre_n));
              hnew[k] = (1.0 - z[k]) * n + z[k] * h[k];
            }
          } else {
            for (int64_t k = 0; k < H; ++k) hnew[k] = ref_act(cfg.f, clip(xw[k] + hh[k]));
          }
          h = hnew;
          for (int64_t j = 0; j < R; ++j) layer_out[(t * B + b) * O + d * R + j] = h[j];
        }
        for (int64_t j = 0; j < R; ++j) out.hn[(sd * B + b) * R + j] = h[j];
        for (int64_t k = 0; k < H; ++k) out.cn[(sd * B + b) * H + k] = c[k];
      }
    }
    in.swap(layer_out);
    in_w = O;
  }
  out.y.assign(static_cast<size_t>(T * B * O), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < O; ++j)
        out.y[cfg.batch_first ? (b * T + t) * O + j : (t * B + b) * O + j] = in[(t * B + b) * O + j];
  return out;
}

}  // namespace rnnx_test
