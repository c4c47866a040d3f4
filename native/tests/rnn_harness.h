// rnn_harness.h — runs rnnx::Rnn<T> on float64 test data with every caller buffer in a guard-page
// buffer (overruns fault, unwritten outputs stay NaN), returning the results as float64.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "guard_buffer.h"
#include "rnnx/rnn.h"
#include "util.h"

namespace rnnx_test {

struct Sizes {
  int64_t x, y, h, c;
};

inline Sizes sizes_of(const rnnx::RnnConfig& cfg, int64_t T, int64_t B) {
  const int64_t LD = cfg.num_layers * cfg.dirs();
  return {T * B * cfg.input_size, T * B * cfg.output_size(), LD * B * cfg.state_size(),
          cfg.cell == rnnx::CellType::kLstm ? LD * B * cfg.hidden_size : 0};
}

inline int64_t param_total(const rnnx::RnnConfig& cfg) {
  int64_t n = 0;
  for (const auto& s : rnnx::param_specs(cfg)) n = std::max(n, s.offset + s.size);
  return n;
}

template <typename T, typename U>
std::vector<T> cast(const std::vector<U>& v) {
  return std::vector<T>(v.begin(), v.end());
}

/// The values rounded to float32 (so float and double runs see identical data).
inline std::vector<double> round_f32(const std::vector<double>& v) { return cast<double>(cast<float>(v)); }

template <typename T>
std::unique_ptr<rnnx::Rnn<T>> make_rnn(const rnnx::RnnConfig& cfg, const std::vector<double>& w) {
  GuardBuffer<T> buf(cast<T>(w));
  return std::make_unique<rnnx::Rnn<T>>(cfg, buf.data(), static_cast<int64_t>(buf.size()));
}

struct FwdOut {
  std::vector<double> y, hn, cn;
};

/// Inputs of one call in float64; empty vectors mean "pass null".
struct FwdIn {
  int64_t T = 0, B = 0;
  std::vector<double> x, h0, c0;
  std::vector<int32_t> lengths;
};

template <typename T>
FwdOut run_forward(rnnx::Rnn<T>& rnn, const FwdIn& in, rnnx::Tape<T>* tape = nullptr, bool no_y = false) {
  const auto& cfg = rnn.config();
  const Sizes sz = sizes_of(cfg, in.T, in.B);
  const bool lstm = cfg.cell == rnnx::CellType::kLstm;
  GuardBuffer<T> x(cast<T>(in.x));
  GuardBuffer<T> h0(cast<T>(in.h0)), c0(cast<T>(in.c0));
  GuardBuffer<int32_t> len(in.lengths);
  GuardBuffer<T> y(static_cast<size_t>(sz.y)), hn(static_cast<size_t>(sz.h)), cn(static_cast<size_t>(sz.c));
  rnnx::ForwardArgs<T> a;
  a.seq_len = in.T;
  a.batch = in.B;
  a.x = x.data();
  a.h0 = in.h0.empty() ? nullptr : h0.data();
  a.c0 = in.c0.empty() ? nullptr : c0.data();
  a.lengths = in.lengths.empty() ? nullptr : len.data();
  a.y = no_y ? nullptr : y.data();  // (no_y: no per-step outputs; o.y stays the guard's fill)
  a.hn = hn.data();
  a.cn = lstm ? cn.data() : nullptr;
  rnn.forward(a, tape);
  FwdOut o;
  o.y.assign(y.begin(), y.end());
  o.hn.assign(hn.begin(), hn.end());
  if (lstm) o.cn.assign(cn.begin(), cn.end());
  return o;
}

/// Random inputs for a call (h0 / c0 only when asked).
inline FwdIn random_input(const rnnx::RnnConfig& cfg, int64_t T, int64_t B, Rng& rng, bool h0, bool c0,
                          std::vector<int32_t> lengths = {}) {
  const Sizes sz = sizes_of(cfg, T, B);
  FwdIn in;
  in.T = T;
  in.B = B;
  in.x = rng.vec<double>(static_cast<size_t>(sz.x));
  if (h0) in.h0 = rng.vec<double>(static_cast<size_t>(sz.h));
  if (c0 && cfg.cell == rnnx::CellType::kLstm) in.c0 = rng.vec<double>(static_cast<size_t>(sz.c));
  in.lengths = std::move(lengths);
  return in;
}

/// Whether y at (t, b) is a padded step.
inline bool padded(const rnnx::RnnConfig& cfg, const std::vector<int32_t>& lengths, int64_t t, int64_t b) {
  return !lengths.empty() && t >= lengths[static_cast<size_t>(b)];
}

/// Element offset of y[t, b, 0] (or x) in the caller's layout.
inline int64_t row_offset(const rnnx::RnnConfig& cfg, int64_t T, int64_t B, int64_t t, int64_t b, int64_t width) {
  return (cfg.batch_first ? b * T + t : t * B + b) * width;
}

/// A short description of a config for messages.
inline std::string describe(const rnnx::RnnConfig& c) {
  std::string s = c.cell == rnnx::CellType::kLstm ? "LSTM" : c.cell == rnnx::CellType::kGru ? "GRU" : "RNN";
  s += " I=" + std::to_string(c.input_size) + " H=" + std::to_string(c.hidden_size);
  if (c.proj_size) s += " P=" + std::to_string(c.proj_size);
  s += " L=" + std::to_string(c.num_layers);
  if (c.bidirectional) s += " bidir";
  if (c.batch_first) s += " batch_first";
  if (!c.bias) s += " nobias";
  if (c.cell == rnnx::CellType::kGru) s += c.linear_before_reset ? " lbr" : " !lbr";
  if (c.clip > 0) s += " clip=" + std::to_string(c.clip);
  s += " f=" + std::to_string(static_cast<int>(c.f.kind)) + " g=" + std::to_string(static_cast<int>(c.g.kind)) +
       " h=" + std::to_string(static_cast<int>(c.h.kind));
  return s;
}

inline rnnx::RnnConfig make_config(rnnx::CellType cell, int64_t I, int64_t H, int64_t L = 1, bool bidir = false) {
  rnnx::RnnConfig c;
  c.cell = cell;
  c.input_size = I;
  c.hidden_size = H;
  c.num_layers = L;
  c.bidirectional = bidir;
  if (cell == rnnx::CellType::kRnn) c.f = {rnnx::Activation::kTanh, 0, 0};  // torch.nn.RNN default
  return c;
}

}  // namespace rnnx_test
