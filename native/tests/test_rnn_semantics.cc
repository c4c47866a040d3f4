// test_rnn_semantics.cc — what a caller relies on beyond the math: padding, per-sequence lengths,
// layouts, state aliasing for streaming, float vs double, tape and workspace reuse, errors.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <limits>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "guard_buffer.h"
#include "isa.h"
#include "reference.h"
#include "rnn_harness.h"
#include "rnnx/rnn.h"
#include "rnnx/thread_pool.h"
#include "test.h"
#include "util.h"

using rnnx::Activation;
using rnnx::CellType;
using rnnx::Code;
using rnnx::RnnConfig;
using namespace rnnx_test;

namespace {

// A spread of configurations: every cell, projection, both GRU reset modes, stacked, bidirectional.
std::vector<RnnConfig> configs(bool bidir, int64_t layers) {
  std::vector<RnnConfig> v;
  v.push_back(make_config(CellType::kLstm, 3, 5, layers, bidir));
  RnnConfig p = make_config(CellType::kLstm, 3, 5, layers, bidir);
  p.proj_size = 3;
  v.push_back(p);
  RnnConfig g = make_config(CellType::kGru, 3, 5, layers, bidir);
  v.push_back(g);
  g.linear_before_reset = false;
  v.push_back(g);
  v.push_back(make_config(CellType::kRnn, 3, 5, layers, bidir));
  RnnConfig r = make_config(CellType::kRnn, 3, 5, layers, bidir);
  r.f = {Activation::kRelu, 0, 0};
  v.push_back(r);
  return v;
}

std::vector<double> weights_for(const RnnConfig& c, Rng& rng) {
  return rng.vec<double>(static_cast<size_t>(param_total(c)), -0.5, 0.5);
}

template <typename T>
double tol_of() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

// Rows of y, hn, cn of sequence b of a padded batch vs the same sequence run alone.
template <typename Real>
void padded_vs_single(const RnnConfig& cfg, uint64_t seed) {
  Rng rng(seed);
  const int64_t T = 5, B = 3;
  const std::vector<int32_t> lens = {3, 1, 5};
  auto w = weights_for(cfg, rng);
  auto rnn = make_rnn<Real>(cfg, w);
  FwdIn in = random_input(cfg, T, B, rng, true, true, lens);
  FwdOut all = run_forward(*rnn, in);
  const int64_t I = cfg.input_size, O = cfg.output_size(), R = cfg.state_size(), H = cfg.hidden_size;
  const int64_t LD = cfg.num_layers * cfg.dirs();
  const bool lstm = cfg.cell == CellType::kLstm;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lens[static_cast<size_t>(b)];
    FwdIn one;
    one.T = len;
    one.B = 1;
    for (int64_t t = 0; t < len; ++t)
      for (int64_t i = 0; i < I; ++i) one.x.push_back(in.x[static_cast<size_t>(row_offset(cfg, T, B, t, b, I) + i)]);
    for (int64_t sd = 0; sd < LD; ++sd) {
      for (int64_t r = 0; r < R; ++r) one.h0.push_back(in.h0[static_cast<size_t>((sd * B + b) * R + r)]);
      if (lstm)
        for (int64_t k = 0; k < H; ++k) one.c0.push_back(in.c0[static_cast<size_t>((sd * B + b) * H + k)]);
    }
    // Also pass lengths = {len} for the single sequence (equal to its seq_len).
    one.lengths = {static_cast<int32_t>(len)};
    FwdOut single = run_forward(*rnn, one);
    std::vector<double> got, want;
    for (int64_t t = 0; t < len; ++t)
      for (int64_t j = 0; j < O; ++j) {
        got.push_back(all.y[static_cast<size_t>(row_offset(cfg, T, B, t, b, O) + j)]);
        want.push_back(single.y[static_cast<size_t>(row_offset(cfg, len, 1, t, 0, O) + j)]);
      }
    for (int64_t sd = 0; sd < LD; ++sd) {
      for (int64_t r = 0; r < R; ++r) {
        got.push_back(all.hn[static_cast<size_t>((sd * B + b) * R + r)]);
        want.push_back(single.hn[static_cast<size_t>(sd * R + r)]);
      }
      if (lstm)
        for (int64_t k = 0; k < H; ++k) {
          got.push_back(all.cn[static_cast<size_t>((sd * B + b) * H + k)]);
          want.push_back(single.cn[static_cast<size_t>(sd * H + k)]);
        }
    }
    double e = tensor_rel_err(got, want, got.size());
    CHECK_MSG(e <= tol_of<Real>(), describe(cfg) << (sizeof(Real) == 4 ? " f32" : " f64") << ": sequence " << b
                                                << " (length " << len << ") differs from running it alone: rel err " << e);
  }
}

}  // namespace

TEST(rnn_semantics, padded_outputs_are_exactly_zero) {
  uint64_t seed = 1;
  for (bool bf : {false, true})
    for (const RnnConfig& base : configs(true, 2)) {
      RnnConfig cfg = base;
      cfg.batch_first = bf;
      Rng rng(seed++);
      const int64_t T = 6, B = 4;
      const std::vector<int32_t> lens = {2, 6, 1, 4};
      auto w = weights_for(cfg, rng);
      for (int dtype = 0; dtype < 2; ++dtype) {
        FwdIn in = random_input(cfg, T, B, rng, true, true, lens);
        FwdOut o = dtype == 0 ? run_forward(*make_rnn<float>(cfg, w), in) : run_forward(*make_rnn<double>(cfg, w), in);
        const int64_t O = cfg.output_size();
        int bad = 0, nan = 0;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < O; ++j) {
              double v = o.y[static_cast<size_t>(row_offset(cfg, T, B, t, b, O) + j)];
              if (std::isnan(v)) ++nan;
              if (padded(cfg, lens, t, b) && v != 0.0) ++bad;
            }
        for (double v : o.hn) nan += std::isnan(v);
        for (double v : o.cn) nan += std::isnan(v);
        CHECK_MSG(bad == 0, describe(cfg) << ": " << bad << " padded outputs are not zero");
        CHECK_MSG(nan == 0, describe(cfg) << ": " << nan << " outputs not written (NaN)");
      }
    }
}

TEST(rnn_semantics, padded_batch_equals_each_sequence_alone) {
  uint64_t seed = 100;
  for (bool bf : {false, true})
    for (const RnnConfig& base : configs(true, 2)) {
      RnnConfig cfg = base;
      cfg.batch_first = bf;
      padded_vs_single<double>(cfg, seed);
      padded_vs_single<float>(cfg, seed);
      ++seed;
    }
}

TEST(rnn_semantics, full_lengths_equal_no_lengths) {
  uint64_t seed = 150;
  for (const RnnConfig& cfg : configs(true, 2)) {
    Rng rng(seed++);
    auto w = weights_for(cfg, rng);
    auto rnn = make_rnn<double>(cfg, w);
    FwdIn in = random_input(cfg, 4, 3, rng, true, true);
    FwdOut a = run_forward(*rnn, in);
    in.lengths = {4, 4, 4};
    FwdOut b = run_forward(*rnn, in);
    CHECK_MSG(a.y == b.y && a.hn == b.hn && a.cn == b.cn, describe(cfg) << ": lengths = T differs from no lengths");
  }
}

// Float32 and float64 agree to 1e-5 relative on the same (float-representable) data, for every
// ISA this machine supports.
TEST(rnn_semantics, float_matches_double_every_isa) {
  const std::string original = rnnx::cpu::selected_isa();
  uint64_t seed = 200;
  for (const auto& isa : usable_isas()) {
    rnnx::cpu::set_isa(isa);
    for (bool bidir : {false, true})
      for (const RnnConfig& cfg : configs(bidir, 2)) {
        Rng rng(seed++);
        // Round data to float so both runs see identical inputs.
        auto w = round_f32(weights_for(cfg, rng));
        FwdIn in = random_input(cfg, 7, 3, rng, true, true, {7, 4, 2});
        in.x = round_f32(in.x);
        in.h0 = round_f32(in.h0);
        in.c0 = round_f32(in.c0);
        FwdOut f = run_forward(*make_rnn<float>(cfg, w), in);
        FwdOut d = run_forward(*make_rnn<double>(cfg, w), in);
        double ey = tensor_rel_err(f.y, d.y, d.y.size());
        double eh = tensor_rel_err(f.hn, d.hn, d.hn.size());
        double ec = tensor_rel_err(f.cn, d.cn, d.cn.size());
        CHECK_MSG(ey <= 1e-5 && eh <= 1e-5 && ec <= 1e-5,
                  "[" << isa << "] " << describe(cfg) << ": float vs double rel err y " << ey << " hn " << eh << " cn " << ec);
      }
  }
  rnnx::cpu::set_isa(original);
}

// A BPTT case on float-representable data: an input (x, h0 and c0 rounded to float) and incoming
// gradients of y, hn and cn, drawn from rng in that order.
struct GradCase {
  FwdIn in;
  std::vector<double> gy, ghn, gcn;
};
GradCase grad_case(const RnnConfig& cfg, int64_t T, int64_t B, Rng& rng, const std::vector<int32_t>& lengths) {
  GradCase g{random_input(cfg, T, B, rng, true, true, lengths), {}, {}, {}};
  g.in.x = round_f32(g.in.x);
  g.in.h0 = round_f32(g.in.h0);
  g.in.c0 = round_f32(g.in.c0);
  const Sizes sz = sizes_of(cfg, T, B);
  g.gy = round_f32(rng.vec<double>(static_cast<size_t>(sz.y)));
  g.ghn = round_f32(rng.vec<double>(static_cast<size_t>(sz.h)));
  g.gcn = round_f32(rng.vec<double>(static_cast<size_t>(sz.c)));
  return g;
}

// Float32 BPTT (every ISA) agrees with float64 BPTT to 1e-4 relative per tensor (the project's
// gradient tolerance), on float-representable data.
template <typename Real>
std::vector<std::vector<double>> grads(const RnnConfig& cfg, const std::vector<double>& w, const FwdIn& in,
                                       const std::vector<double>& gy, const std::vector<double>& ghn,
                                       const std::vector<double>& gcn) {
  auto rnn = make_rnn<Real>(cfg, w);
  rnnx::Tape<Real> tape;
  run_forward(*rnn, in, &tape);
  const Sizes sz = sizes_of(cfg, in.T, in.B);
  const bool lstm = cfg.cell == CellType::kLstm;
  GuardBuffer<Real> gyb(cast<Real>(gy)), ghnb(cast<Real>(ghn)), gcnb(cast<Real>(gcn));
  GuardBuffer<Real> dx(static_cast<size_t>(sz.x)), dh0(static_cast<size_t>(sz.h)), dc0(static_cast<size_t>(sz.c)),
      dw(w.size());
  rnnx::BackwardArgs<Real> g;
  g.gy = gyb.data();
  g.ghn = ghnb.data();
  g.gcn = lstm ? gcnb.data() : nullptr;
  g.dx = dx.data();
  g.dh0 = dh0.data();
  g.dc0 = lstm ? dc0.data() : nullptr;
  g.dw = dw.data();
  rnn->backward(tape, g);
  std::vector<std::vector<double>> out;
  for (auto* b : {&dx, &dh0, &dc0}) out.emplace_back(b->begin(), b->end());
  for (const auto& s : rnn->params()) out.emplace_back(dw.begin() + s.offset, dw.begin() + s.offset + s.size);
  return out;
}

TEST(rnn_semantics, float_backward_matches_double_every_isa) {
  const std::string original = rnnx::cpu::selected_isa();
  uint64_t seed = 250;
  for (bool bidir : {false, true})
    for (const RnnConfig& base : configs(bidir, 2)) {
      for (bool bf : {false, true}) {
        RnnConfig cfg = base;
        cfg.batch_first = bf;
        Rng rng(seed++);
        auto w = round_f32(weights_for(cfg, rng));
        const int64_t T = 7, B = 3;
        const GradCase gc = grad_case(cfg, T, B, rng, {7, 4, 2});
        const FwdIn& in = gc.in;
        const auto &gy = gc.gy, &ghn = gc.ghn, &gcn = gc.gcn;
        auto want = grads<double>(cfg, w, in, gy, ghn, gcn);
        const auto specs = rnnx::param_specs(cfg);
        for (const auto& isa : usable_isas()) {
          rnnx::cpu::set_isa(isa);
          auto got = grads<float>(cfg, w, in, gy, ghn, gcn);
          for (size_t k = 0; k < want.size(); ++k) {
            double e = tensor_rel_err(got[k], want[k], want[k].size(), 1e-3);
            const std::string name = k == 0 ? "x" : k == 1 ? "h0" : k == 2 ? "c0" : specs[k - 3].name;
            CHECK_MSG(e <= 1e-4, "[" << isa << "] " << describe(cfg) << ": float vs double d" << name << " rel err " << e);
          }
        }
        rnnx::cpu::set_isa(original);
      }
    }
}

// Streaming: T calls of one step each, with hn aliasing h0 and cn aliasing c0, equal one call of
// T steps.
template <typename Real>
void streaming_case(const RnnConfig& cfg, uint64_t seed) {
  Rng rng(seed);
  const int64_t Tn = 6, B = 2;
  auto w = weights_for(cfg, rng);
  auto rnn = make_rnn<Real>(cfg, w);
  FwdIn in = random_input(cfg, Tn, B, rng, true, true);
  FwdOut full = run_forward(*rnn, in);

  const bool lstm = cfg.cell == CellType::kLstm;
  const Sizes sz = sizes_of(cfg, 1, B);
  const int64_t I = cfg.input_size, O = cfg.output_size();
  GuardBuffer<Real> h(cast<Real>(in.h0)), c(lstm ? cast<Real>(in.c0) : std::vector<Real>{});
  std::vector<double> ys;
  for (int64_t t = 0; t < Tn; ++t) {
    GuardBuffer<Real> x(static_cast<size_t>(sz.x)), y(static_cast<size_t>(sz.y));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < I; ++i)
        x[static_cast<size_t>(b * I + i)] = static_cast<Real>(in.x[static_cast<size_t>(row_offset(cfg, Tn, B, t, b, I) + i)]);
    rnnx::ForwardArgs<Real> a;
    a.seq_len = 1;
    a.batch = B;
    a.x = x.data();
    a.h0 = h.data();
    a.hn = h.data();  // aliasing: the new state overwrites the old one in place
    a.c0 = lstm ? c.data() : nullptr;
    a.cn = lstm ? c.data() : nullptr;
    a.y = y.data();
    rnn->forward(a, nullptr);
    for (size_t i = 0; i < y.size(); ++i) ys.push_back(y[i]);
  }
  // Reorder the full run's y to [t][b][o] to compare.
  std::vector<double> want;
  for (int64_t t = 0; t < Tn; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < O; ++j) want.push_back(full.y[static_cast<size_t>(row_offset(cfg, Tn, B, t, b, O) + j)]);
  double ey = tensor_rel_err(ys, want, want.size());
  double eh = tensor_rel_err(h.to_vector(), full.hn, full.hn.size());
  double ec = lstm ? tensor_rel_err(c.to_vector(), full.cn, full.cn.size()) : 0.0;
  CHECK_MSG(ey <= tol_of<Real>() && eh <= tol_of<Real>() && ec <= tol_of<Real>(),
            describe(cfg) << (sizeof(Real) == 4 ? " f32" : " f64") << ": streaming with hn=h0 differs: y " << ey << " hn "
                          << eh << " cn " << ec);
}

TEST(rnn_semantics, streaming_with_aliased_state) {
  uint64_t seed = 300;
  for (bool bf : {false, true})
    for (const RnnConfig& base : configs(false, 2)) {
      RnnConfig cfg = base;
      cfg.batch_first = bf;
      streaming_case<double>(cfg, seed);
      streaming_case<float>(cfg, seed);
      ++seed;
    }
}

TEST(rnn_semantics, batch_first_equals_time_major) {
  uint64_t seed = 400;
  for (const RnnConfig& tm : configs(true, 2)) {
    RnnConfig bf = tm;
    bf.batch_first = true;
    Rng rng(seed++);
    auto w = weights_for(tm, rng);
    const int64_t T = 5, B = 3;
    FwdIn a = random_input(tm, T, B, rng, true, true, {5, 2, 4});
    FwdIn b = a;
    const int64_t I = tm.input_size, O = tm.output_size();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < B; ++k)
        for (int64_t i = 0; i < I; ++i) b.x[static_cast<size_t>((k * T + t) * I + i)] = a.x[static_cast<size_t>((t * B + k) * I + i)];
    FwdOut ya = run_forward(*make_rnn<double>(tm, w), a);
    FwdOut yb = run_forward(*make_rnn<double>(bf, w), b);
    std::vector<double> yb_tm(yb.y.size());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < B; ++k)
        for (int64_t j = 0; j < O; ++j) yb_tm[static_cast<size_t>((t * B + k) * O + j)] = yb.y[static_cast<size_t>((k * T + t) * O + j)];
    double e = std::max({tensor_rel_err(yb_tm, ya.y, ya.y.size()), tensor_rel_err(yb.hn, ya.hn, ya.hn.size()),
                         tensor_rel_err(yb.cn, ya.cn, ya.cn.size())});
    CHECK_MSG(e <= 1e-12, describe(tm) << ": batch_first differs from time-major by " << e);
  }
}

// A tape and the inference workspace are reused across calls of different shapes: results must
// not depend on what an earlier call left behind.
TEST(rnn_semantics, tape_and_workspace_reuse) {
  uint64_t seed = 500;
  for (const RnnConfig& cfg : configs(true, 2)) {
    Rng rng(seed++);
    auto w = weights_for(cfg, rng);
    auto rnn = make_rnn<double>(cfg, w);
    FwdIn big = random_input(cfg, 6, 4, rng, true, true, {6, 3, 5, 1});
    FwdIn small = random_input(cfg, 2, 1, rng, true, false);
    const Sizes sz = sizes_of(cfg, 2, 1);
    auto gy = rng.vec<double>(static_cast<size_t>(sz.y));
    auto ghn = rng.vec<double>(static_cast<size_t>(sz.h));
    auto backward = [&](rnnx::Rnn<double>& m, const rnnx::Tape<double>& tape) {
      std::vector<double> dx(static_cast<size_t>(sz.x)), dh0(static_cast<size_t>(sz.h)), dc0(static_cast<size_t>(sz.c)),
          dw(w.size());
      rnnx::BackwardArgs<double> g;
      g.gy = gy.data();
      g.ghn = ghn.data();
      g.dx = dx.data();
      g.dh0 = dh0.data();
      g.dc0 = sz.c ? dc0.data() : nullptr;
      g.dw = dw.data();
      m.backward(tape, g);
      dx.insert(dx.end(), dh0.begin(), dh0.end());
      dx.insert(dx.end(), dc0.begin(), dc0.end());
      dx.insert(dx.end(), dw.begin(), dw.end());
      return dx;
    };
    // fresh model, fresh tape
    auto fresh = make_rnn<double>(cfg, w);
    rnnx::Tape<double> t1;
    FwdOut want = run_forward(*fresh, small, &t1);
    auto want_g = backward(*fresh, t1);
    // used model and tape: big call first, then the small one into the same tape
    rnnx::Tape<double> t2;
    run_forward(*rnn, big, &t2);
    run_forward(*rnn, big);
    FwdOut got = run_forward(*rnn, small, &t2);
    auto got_g = backward(*rnn, t2);
    CHECK_MSG(got.y == want.y && got.hn == want.hn && got.cn == want.cn,
              describe(cfg) << ": forward after a larger call differs");
    CHECK_MSG(tensor_rel_err(got_g, want_g, want_g.size()) <= 1e-14,
              describe(cfg) << ": backward through a reused tape differs");
  }
}

TEST(rnn_semantics, param_specs_follow_pytorch) {
  RnnConfig c = make_config(CellType::kLstm, 3, 5, 2, true);
  c.proj_size = 2;
  auto specs = rnnx::param_specs(c);
  const char* names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
                         "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                         "weight_hr_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
                         "weight_hr_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse",
                         "bias_hh_l1_reverse", "weight_hr_l1_reverse"};
  REQUIRE(specs.size() == 20);
  int64_t off = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    CHECK_EQ(s.name, std::string(names[i]));
    CHECK_EQ(s.offset, off);
    CHECK_EQ(s.size, s.rows * std::max<int64_t>(s.cols, 1));
    off += s.size;
    const int64_t in = s.layer == 0 ? 3 : 2 * 2;
    switch (s.kind) {
      case rnnx::ParamKind::kWeightIh: CHECK(s.rows == 20 && s.cols == in); break;
      case rnnx::ParamKind::kWeightHh: CHECK(s.rows == 20 && s.cols == 2); break;
      case rnnx::ParamKind::kBiasIh:
      case rnnx::ParamKind::kBiasHh: CHECK(s.rows == 20 && s.cols == 0); break;
      case rnnx::ParamKind::kWeightHr: CHECK(s.rows == 2 && s.cols == 5); break;
      case rnnx::ParamKind::kPeephole: CHECK_MSG(false, s.name << ": this configuration has no peepholes"); break;
    }
  }
  rnnx::Rnn<double> rnn(c, std::vector<double>(static_cast<size_t>(off), 0.1).data(), off);
  CHECK_EQ(rnn.param_count(), off);
  RnnConfig g = make_config(CellType::kGru, 4, 6);
  g.bias = false;
  auto gs = rnnx::param_specs(g);
  REQUIRE(gs.size() == 2);
  CHECK(gs[0].name == "weight_ih_l0" && gs[0].rows == 18 && gs[0].cols == 4);
  CHECK(gs[1].name == "weight_hh_l0" && gs[1].rows == 18 && gs[1].cols == 6);
}

TEST(rnn_semantics, errors) {
  RnnConfig c = make_config(CellType::kLstm, 3, 4);
  const int64_t n = param_total(c);
  std::vector<double> w(static_cast<size_t>(n), 0.1);
  // weight count
  CHECK_THROWS_CODE(rnnx::Rnn<double>(c, w.data(), n - 1), Code::kShapeMismatch);
  CHECK_THROWS_CODE(rnnx::Rnn<double>(c, w.data(), n + 1), Code::kShapeMismatch);
  rnnx::Rnn<double> rnn(c, w.data(), n);
  CHECK_THROWS_CODE(rnn.set_weights(w.data(), n - 1), Code::kShapeMismatch);
  // bad configs
  auto bad = [&](auto mutate) {
    RnnConfig b = make_config(CellType::kLstm, 3, 4);
    mutate(b);
    return b;
  };
  const RnnConfig bad_configs[] = {
      bad([](RnnConfig& b) { b.hidden_size = 0; }),
      bad([](RnnConfig& b) { b.input_size = 0; }),
      bad([](RnnConfig& b) { b.input_size = -3; }),
      bad([](RnnConfig& b) { b.num_layers = 0; }),
      bad([](RnnConfig& b) { b.proj_size = -1; }),
      bad([](RnnConfig& b) { b.proj_size = 4; }),  // must be < hidden_size
      bad([](RnnConfig& b) { b.cell = CellType::kGru; b.proj_size = 2; }),
      bad([](RnnConfig& b) { b.clip = -1; }),
      bad([](RnnConfig& b) { b.clip = std::numeric_limits<double>::quiet_NaN(); }),
      bad([](RnnConfig& b) { b.cell = static_cast<CellType>(7); }),
      bad([](RnnConfig& b) { b.f.kind = static_cast<Activation>(11); }),
      bad([](RnnConfig& b) { b.h.kind = static_cast<Activation>(-1); }),
  };
  for (const RnnConfig& b : bad_configs) {
    CHECK_THROWS_CODE(rnnx::validate_config(b), Code::kInvalidArgument);
    CHECK_THROWS_CODE(rnnx::param_specs(b), Code::kInvalidArgument);
    CHECK_THROWS_CODE(rnnx::Rnn<float>(b, nullptr, 0), Code::kInvalidArgument);
  }
  // lengths out of range, shapes
  const int64_t T = 3, B = 3;
  const Sizes sz = sizes_of(c, T, B);
  std::vector<double> x(static_cast<size_t>(sz.x), 0.5), y(static_cast<size_t>(sz.y)), hn(static_cast<size_t>(sz.h)),
      cn(static_cast<size_t>(sz.c));
  auto fwd = [&](const std::vector<int32_t>& lens, int64_t seq, int64_t batch) {
    rnnx::ForwardArgs<double> a;
    a.seq_len = seq;
    a.batch = batch;
    a.x = x.data();
    a.y = y.data();
    a.hn = hn.data();
    a.cn = cn.data();
    a.lengths = lens.empty() ? nullptr : lens.data();
    rnn.forward(a, nullptr);
  };
  CHECK_NOTHROW(fwd({1, 3, 2}, T, B));
  CHECK_THROWS_CODE(fwd({1, 0, 2}, T, B), Code::kInvalidArgument);
  CHECK_THROWS_CODE(fwd({1, 4, 2}, T, B), Code::kInvalidArgument);
  CHECK_THROWS_CODE(fwd({-1, 2, 2}, T, B), Code::kInvalidArgument);
  CHECK_THROWS_CODE(fwd({}, 0, B), Code::kShapeMismatch);
  CHECK_THROWS_CODE(fwd({}, T, 0), Code::kShapeMismatch);
  CHECK_THROWS_CODE(rnn.check_call(T, B, std::vector<int32_t>{3, 3, 9}.data()), Code::kInvalidArgument);
  {
    rnnx::ForwardArgs<double> a;
    a.seq_len = T;
    a.batch = B;
    a.x = x.data();  // y missing: fine without a tape (no per-step outputs), refused with one
    rnnx::Tape<double> tape;
    CHECK_THROWS_CODE(rnn.forward(a, &tape), Code::kInvalidArgument);
  }
  // tapes
  std::vector<double> dx(static_cast<size_t>(sz.x)), dw(static_cast<size_t>(n));
  rnnx::BackwardArgs<double> g;
  g.dx = dx.data();
  g.dw = dw.data();
  rnnx::Tape<double> empty;
  CHECK_THROWS_CODE(rnn.backward(empty, g), Code::kInvalidArgument);
  rnnx::Tape<double> tape;
  {
    rnnx::ForwardArgs<double> a;
    a.seq_len = T;
    a.batch = B;
    a.x = x.data();
    a.y = y.data();
    rnn.forward(a, &tape);
  }
  CHECK_NOTHROW(rnn.backward(tape, g));
  rnn.set_weights(w.data(), n);  // same values, new version: the tape is stale
  CHECK_THROWS_CODE(rnn.backward(tape, g), Code::kInvalidArgument);
  // A lengths error must not leave a tape that looks valid.
  rnnx::Tape<double> t2;
  {
    rnnx::ForwardArgs<double> a;
    a.seq_len = T;
    a.batch = B;
    a.x = x.data();
    a.y = y.data();
    std::vector<int32_t> lens = {1, 5, 1};
    a.lengths = lens.data();
    CHECK_THROWS_CODE(rnn.forward(a, &t2), Code::kInvalidArgument);
  }
  CHECK(!t2.valid);
  CHECK_THROWS_CODE(rnn.backward(t2, g), Code::kInvalidArgument);
}

// The fused step (gate-interleaved weights, the cell update in registers, every step in one region
// of the pool with a barrier per step) on shapes large enough to split over 2 and 3 threads, with
// hidden sizes that are not a multiple of any vector width, batch 1 and odd batches, one step and
// several, uneven lengths, both directions and two layers: forward and BPTT against float64, on
// every ISA. The larger batches also run BPTT's step loop with the batch rows split over threads.
TEST(rnn_semantics, fused_step_threads_match_double_every_isa) {
  const std::string original = rnnx::cpu::selected_isa();
  const int threads0 = rnnx::ThreadPool::global().threads();
  uint64_t seed = 900;
  struct Shape {
    int64_t H, B, T;
    bool full = false;  // every sequence of length T (no lengths)
  };
  // (batch 1 over 64 steps or more: the input projection may be pipelined on a second thread, and
  // the tuner switches between that and the team within a dozen calls; one has a shorter length.
  // From batch 4 the step computes the input product itself: in the reverse direction only when no
  // sequence is padded, hence the full batches.)
  const Shape shapes[] = {{130, 1, 1},  {130, 1, 9},  {300, 1, 3},  {100, 7, 6},         {67, 13, 4},
                          {130, 9, 5},  {300, 9, 3},  {130, 1, 70}, {40, 1, 100},        {100, 1, 81},
                          {90, 6, 7, true}, {40, 4, 5, true}, {33, 17, 6, true}};
  for (int threads : {2, 3}) {
    rnnx::ThreadPool::global().set_threads(threads);
    for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnn})
      for (const Shape& sh : shapes) {
        RnnConfig cfg = make_config(cell, 19, sh.H, 2, sh.T > 4);
        if (cell == CellType::kRnn && sh.B == 7) cfg.f = {Activation::kRelu, 0, 0};
        Rng rng(seed++);
        auto w = round_f32(rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.2, 0.2));
        std::vector<int32_t> lens;
        for (int64_t b = 0; b < sh.B; ++b) lens.push_back(static_cast<int32_t>(1 + (b * 5 + 3) % sh.T));
        if (sh.B > 1) lens[0] = static_cast<int32_t>(sh.T);
        const bool short1 = sh.B == 1 && sh.T == 81;
        if (short1) lens[0] = static_cast<int32_t>(sh.T - 7);
        const GradCase gc = grad_case(cfg, sh.T, sh.B, rng, (sh.B > 1 && !sh.full) || short1 ? lens : std::vector<int32_t>{});
        const FwdIn& in = gc.in;
        const auto &gy = gc.gy, &ghn = gc.ghn, &gcn = gc.gcn;
        FwdOut d = run_forward(*make_rnn<double>(cfg, w), in);
        auto want = grads<double>(cfg, w, in, gy, ghn, gcn);
        for (const auto& isa : usable_isas()) {
          rnnx::cpu::set_isa(isa);
          auto rf = make_rnn<float>(cfg, w);
          FwdOut f = run_forward(*rf, in);
          // the split of blocks between threads adapts from call to call: results must not move
          for (int rep = 0; rep < (sh.T >= 64 ? 14 : 4); ++rep) {
            FwdOut again = run_forward(*rf, in);
            CHECK_MSG(again.y == f.y && again.hn == f.hn && again.cn == f.cn,
                      "[" << isa << ", " << threads << " threads] " << describe(cfg) << " H " << sh.H << " B " << sh.B
                          << ": call " << rep + 2 << " differs from the first");
          }
          const double ey = tensor_rel_err(f.y, d.y, d.y.size()), eh = tensor_rel_err(f.hn, d.hn, d.hn.size());
          const double ec = tensor_rel_err(f.cn, d.cn, d.cn.size());
          CHECK_MSG(ey <= 1e-5 && eh <= 1e-5 && ec <= 1e-5, "[" << isa << ", " << threads << " threads] " << describe(cfg)
                                                                << " H " << sh.H << " B " << sh.B << " T " << sh.T
                                                                << ": rel err y " << ey << " hn " << eh << " cn " << ec);
          auto got = grads<float>(cfg, w, in, gy, ghn, gcn);
          for (size_t k = 0; k < want.size(); ++k) {
            const double e = tensor_rel_err(got[k], want[k], want[k].size(), 1e-3);
            CHECK_MSG(e <= 1e-4, "[" << isa << ", " << threads << " threads] " << describe(cfg) << " H " << sh.H << " B "
                                     << sh.B << " T " << sh.T << ": gradient " << k << " rel err " << e);
          }
        }
        rnnx::cpu::set_isa(original);
      }
  }
  rnnx::ThreadPool::global().set_threads(threads0);
}

// Without y (returnSequences: false) a call writes no per-step output and its final states are the
// same bits as a call that writes them: every ISA, the fused step (team, pipe, one thread) and the
// general path (float64, batch first, several layers, lengths).
TEST(rnn_semantics, no_outputs_same_final_state) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  const std::string original = rnnx::cpu::selected_isa();
  uint64_t seed = 1700;
  for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnn})
    for (int shape = 0; shape < 3; ++shape) {
      RnnConfig cfg = make_config(cell, 6, 20, shape == 1 ? 2 : 1, shape == 1);
      cfg.batch_first = shape == 2;
      const int64_t T = shape == 0 ? 70 : 5, B = shape == 0 ? 1 : 3;
      Rng rng(seed++);
      auto w = round_f32(rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.3, 0.3));
      FwdIn in = random_input(cfg, T, B, rng, true, true, shape == 1 ? std::vector<int32_t>{5, 2, 4} : std::vector<int32_t>{});
      in.x = round_f32(in.x);
      for (const auto& isa : usable_isas())
        for (int threads : {1, 2}) {
          rnnx::cpu::set_isa(isa);
          pool.set_threads(threads);
          auto rf = make_rnn<float>(cfg, w);
          for (int rep = 0; rep < (shape == 0 ? 6 : 1); ++rep) {  // (the tuner's modes at batch 1)
            const FwdOut full = run_forward(*rf, in), none = run_forward(*rf, in, static_cast<rnnx::Tape<float>*>(nullptr), true);
            CHECK_MSG(none.hn == full.hn && none.cn == full.cn,
                      "[" << isa << ", " << threads << " threads] " << describe(cfg) << ": final state differs without y");
          }
          auto rd = make_rnn<double>(cfg, w);
          const FwdOut full = run_forward(*rd, in), none = run_forward(*rd, in, static_cast<rnnx::Tape<double>*>(nullptr), true);
          CHECK_MSG(none.hn == full.hn && none.cn == full.cn, "[float64] " << describe(cfg) << ": final state differs without y");
        }
    }
  rnnx::cpu::set_isa(original);
  pool.set_threads(threads0);
}

// A zero initial state (none given, or zeros) skips the first step's recurrent product. The outputs
// equal those of the product computed (testing::skip_zero_state(false)) on every ISA and thread
// count, for every cell, in the fused step (batch 1's team, pipe and one thread; steps that compute
// their input product), the general path (projection, float64) and padded bidirectional stacks; also
// with a NaN in W_hh (whose product with zeros is NaN: then nothing is skipped).
TEST(rnn_semantics, zero_initial_state_same_as_explicit_zeros) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  const std::string original = rnnx::cpu::selected_isa();
  // NaN-aware equality (what each activation makes of a NaN is the kernel's business, not this test's)
  auto same = [](const FwdOut& a, const FwdOut& b) {
    auto eq = [](const std::vector<double>& u, const std::vector<double>& v) {
      if (u.size() != v.size()) return false;
      for (size_t i = 0; i < u.size(); ++i)
        if (!(u[i] == v[i] || (std::isnan(u[i]) && std::isnan(v[i])))) return false;
      return true;
    };
    return eq(a.y, b.y) && eq(a.hn, b.hn) && eq(a.cn, b.cn);
  };
  uint64_t seed = 2100;
  for (int shape = 0; shape < 3; ++shape)
    for (RnnConfig cfg : configs(shape == 1, shape == 1 ? 2 : 1)) {
      cfg.input_size = 7;
      cfg.hidden_size = 37;  // (not a multiple of any vector width)
      if (cfg.proj_size > 0) cfg.proj_size = 11;
      const int64_t T = shape == 0 ? 70 : 6, B = shape == 0 ? 1 : shape == 1 ? 3 : 9;
      Rng rng(seed++);
      auto w = round_f32(weights_for(cfg, rng));
      FwdIn in = random_input(cfg, T, B, rng, false, true, shape == 1 ? std::vector<int32_t>{6, 2, 5} : std::vector<int32_t>{});
      in.x = round_f32(in.x);
      in.c0 = round_f32(in.c0);
      FwdIn zeros = in;
      zeros.h0.assign(static_cast<size_t>(cfg.num_layers * cfg.dirs() * B * cfg.state_size()), 0.0);
      // no initial state and explicit zeros, each against the product computed
      auto check = [&](auto& rnn, int reps, const std::string& where) {
        for (int rep = 0; rep < reps; ++rep) {  // (batch 1: the tuner's modes)
          const FwdOut none = run_forward(rnn, in), zero = run_forward(rnn, zeros);
          rnnx::testing::skip_zero_state(false);
          const FwdOut full = run_forward(rnn, in);
          rnnx::testing::skip_zero_state(true);
          CHECK_MSG(same(none, full) && same(zero, full), where << describe(cfg) << ": a zero state's skip differs from the product");
        }
      };
      // the second pass: a NaN in W_hh (layer 0, forward direction, first gate, first unit), whose
      // product with zeros is NaN, so that nothing may be skipped
      for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1)
          for (const auto& spec : rnnx::param_specs(cfg))
            if (spec.kind == rnnx::ParamKind::kWeightHh && spec.layer == 0 && spec.dir == 0) w[static_cast<size_t>(spec.offset)] = std::nan("");
        const std::string nan = pass == 1 ? " (NaN in W_hh) " : " ";
        for (const auto& isa : usable_isas())
          for (int threads : {1, 2}) {
            rnnx::cpu::set_isa(isa);
            pool.set_threads(threads);
            check(*make_rnn<float>(cfg, w), shape == 0 ? 6 : 1, "[" + isa + ", " + std::to_string(threads) + " threads]" + nan);
          }
        check(*make_rnn<double>(cfg, w), 1, "[float64]" + nan);
      }
    }
  rnnx::cpu::set_isa(original);
  pool.set_threads(threads0);
}

// f(isa, threads, one) on every ISA for pools of 2 and 3 threads, `one` the float32 forward of (cfg,
// w, in) on one thread with that ISA. Leaves the last ISA and 3 threads selected.
template <typename F>
void against_one_thread(const RnnConfig& cfg, const std::vector<double>& w, const FwdIn& in, F&& f) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  for (const auto& isa : usable_isas()) {
    rnnx::cpu::set_isa(isa);
    pool.set_threads(1);
    const FwdOut one = run_forward(*make_rnn<float>(cfg, w), in);
    for (int threads : {2, 3}) {
      pool.set_threads(threads);
      f(isa, threads, one);
    }
  }
}

// Batch 1 over a long sequence gives the same bits on any number of threads: one thread, the team
// and the pipe all sum each product in the same order (fixed input-projection chunks, the recurrent
// product of a row never split by thread).
TEST(rnn_semantics, batch1_long_sequence_same_bits_on_any_thread_count) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  const std::string original = rnnx::cpu::selected_isa();
  uint64_t seed = 1300;
  for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnn}) {
    RnnConfig cfg = make_config(cell, 24, 130, 1, true);  // bidirectional: the reverse direction's chunks too
    Rng rng(seed++);
    auto w = round_f32(rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.2, 0.2));
    FwdIn in = random_input(cfg, 90, 1, rng, true, true, {});
    in.x = round_f32(in.x);
    in.h0 = round_f32(in.h0);
    in.c0 = round_f32(in.c0);
    against_one_thread(cfg, w, in, [&](const std::string& isa, int threads, const FwdOut& one) {
      auto rf = make_rnn<float>(cfg, w);
      for (int rep = 0; rep < 14; ++rep) {  // (the tuner tries the team and the pipe within these calls)
        const FwdOut f = run_forward(*rf, in);
        CHECK_MSG(f.y == one.y && f.hn == one.hn && f.cn == one.cn,
                  "[" << isa << ", " << threads << " threads] " << describe(cfg) << ": call " << rep + 1
                      << " differs from one thread's");
      }
      // every mode the tuner may pick, forced: the team, the pipe, one thread on a larger pool
      for (int mode : {0, 1, 2}) {
        rnnx::testing::force_step_mode(mode);
        const FwdOut f = run_forward(*rf, in);
        rnnx::testing::force_step_mode(-1);
        CHECK_MSG(f.y == one.y && f.hn == one.hn && f.cn == one.cn,
                  "[" << isa << ", " << threads << " threads] " << describe(cfg) << ": mode " << mode
                      << " differs from one thread's");
      }
    });
    rnnx::cpu::set_isa(original);
  }
  pool.set_threads(threads0);
}

// A team splits a batch's steps by hidden-unit blocks or by rows (testing::force_step_split; the rule
// picks rows from 16 rows a member on small weights): every (block, row) sum is the same either way,
// so both splits, and the rule, give the same bits, with and without a tape, on every ISA: uneven
// lengths, both directions, two layers, a batch that does not divide between the members. (Against
// one thread: the same bits where no sequence is padded. A padded reverse direction reads an input
// projection computed before the steps, whose GEMM the pool splits by rows, and the AVX2 kernels'
// row tails then fall on other rows.) The gradients through a tape recorded with either split match
// float64.
TEST(rnn_semantics, step_split_by_rows_or_units_same_bits) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  const std::string original = rnnx::cpu::selected_isa();
  struct Shape {
    int64_t H, B, T;
    bool full;
  };
  const Shape shapes[] = {{40, 35, 6, false}, {33, 5, 4, true}, {70, 9, 3, false}};
  uint64_t seed = 1900;
  for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnn})
    for (const Shape& sh : shapes) {
      RnnConfig cfg = make_config(cell, 11, sh.H, 2, true);
      Rng rng(seed++);
      auto w = round_f32(rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.2, 0.2));
      std::vector<int32_t> lens;
      for (int64_t b = 0; b < sh.B; ++b) lens.push_back(static_cast<int32_t>(1 + (b * 5 + 3) % sh.T));
      lens[0] = static_cast<int32_t>(sh.T);
      const GradCase gc = grad_case(cfg, sh.T, sh.B, rng, sh.full ? std::vector<int32_t>{} : lens);
      const FwdIn& in = gc.in;
      const auto &gy = gc.gy, &ghn = gc.ghn, &gcn = gc.gcn;
      auto want = grads<double>(cfg, w, in, gy, ghn, gcn);
      against_one_thread(cfg, w, in, [&](const std::string& isa, int threads, const FwdOut& one) {
        rnnx::testing::force_step_split(0);
        const FwdOut units = run_forward(*make_rnn<float>(cfg, w), in);
        if (sh.full)
          CHECK_MSG(units.y == one.y && units.hn == one.hn && units.cn == one.cn,
                    "[" << isa << ", " << threads << " threads] " << describe(cfg) << " H " << sh.H << " B " << sh.B
                        << ": the split by units differs from one thread");
        for (int split : {0, 1, -1}) {
          rnnx::testing::force_step_split(split);
          auto rf = make_rnn<float>(cfg, w);
          for (int rep = 0; rep < 3; ++rep) {  // (the members' shares adapt between calls)
            rnnx::Tape<float> tape;
            const FwdOut f = run_forward(*rf, in), t = run_forward(*rf, in, &tape);
            CHECK_MSG(f.y == units.y && f.hn == units.hn && f.cn == units.cn && t.y == units.y && t.hn == units.hn &&
                          t.cn == units.cn,
                      "[" << isa << ", " << threads << " threads, split " << split << "] " << describe(cfg) << " H " << sh.H
                          << " B " << sh.B << ": call " << rep + 1 << " differs from the split by units");
          }
          auto got = grads<float>(cfg, w, in, gy, ghn, gcn);
          rnnx::testing::force_step_split(-1);
          for (size_t k = 0; k < want.size(); ++k) {
            const double e = tensor_rel_err(got[k], want[k], want[k].size(), 1e-3);
            CHECK_MSG(e <= 1e-4, "[" << isa << ", " << threads << " threads, split " << split << "] " << describe(cfg)
                                     << " H " << sh.H << " B " << sh.B << ": gradient " << k << " rel err " << e);
          }
        }
      });
      rnnx::cpu::set_isa(original);
    }
  pool.set_threads(threads0);
}

// Large enough batches split the backward's steps between the pool's threads by rows (each member
// runs every step on its rows); without padding each step's gate gradients are written in place in
// the all-steps buffers. Gradients on 1, 2 and 3 threads, every ISA, every cell, both directions,
// with and without padding, match float64.
TEST(rnn_semantics, backward_split_by_rows_matches_double) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  const std::string original = rnnx::cpu::selected_isa();
  uint64_t seed = 2300;
  for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnn})
    for (bool full : {true, false}) {
      // B * gates * H * H >= 400k multiply-adds a step (rnn.cc: a team from 4 x kParallelWork)
      const int64_t H = cell == CellType::kLstm ? 40 : cell == CellType::kGru ? 48 : 80, B = 64, T = 4;
      RnnConfig cfg = make_config(cell, 9, H, 1, true);
      if (cell == CellType::kGru) cfg.linear_before_reset = full;  // (both GRU variants)
      Rng rng(seed++);
      auto w = round_f32(rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.3, 0.3));
      std::vector<int32_t> lens;
      for (int64_t b = 0; b < B; ++b) lens.push_back(static_cast<int32_t>(1 + (b * 3) % T));
      lens[5] = static_cast<int32_t>(T);
      const GradCase gc = grad_case(cfg, T, B, rng, full ? std::vector<int32_t>{} : lens);
      pool.set_threads(1);  // (the reference on one thread: no split)
      const auto want = grads<double>(cfg, w, gc.in, gc.gy, gc.ghn, gc.gcn);
      for (const auto& isa : usable_isas())
        for (int threads : {1, 2, 3}) {
          rnnx::cpu::set_isa(isa);
          pool.set_threads(threads);
          const auto got = grads<float>(cfg, w, gc.in, gc.gy, gc.ghn, gc.gcn);
          for (size_t k = 0; k < want.size(); ++k) {
            const double e = tensor_rel_err(got[k], want[k], want[k].size(), 1e-3);
            CHECK_MSG(e <= 1e-4, "[" << isa << ", " << threads << " threads] " << describe(cfg) << (full ? "" : " lengths")
                                     << ": gradient " << k << " rel err " << e);
          }
        }
    }
  rnnx::cpu::set_isa(original);
  pool.set_threads(threads0);
}

// A team region right after the pool (re)starts its workers must get every member (a worker that
// had not run yet once counted the first region as already seen, and its partner waited forever),
// and members meet at every barrier.
TEST(rnn_semantics, team_right_after_pool_restart) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  for (int round = 0; round < 200; ++round) {
    const int n = 2 + round % 3;
    pool.set_threads(round % 2 ? n : 1);
    pool.set_threads(n);
    rnnx::TeamBarrier barrier(n);
    std::vector<int> counts(static_cast<size_t>(n), 0);
    std::atomic<int> members{0}, bad{0};
    pool.run_team(n, [&](int m, int team) {
      members.fetch_add(1);
      uint64_t reached = 0;
      for (int s = 0; s < 20; ++s) {
        counts[static_cast<size_t>(m)] = s;
        if (team > 1) barrier.wait(m, reached);
        // after the barrier every member has written step s
        for (int o = 0; o < team; ++o)
          if (counts[static_cast<size_t>(o)] < s) bad.fetch_add(1);
        if (team > 1) barrier.wait(m, reached);
      }
    });
    CHECK_MSG(members.load() == n, "round " << round << ": " << members.load() << " members of " << n);
    CHECK_MSG(bad.load() == 0, "round " << round << ": a member passed a barrier early");
  }
  pool.set_threads(threads0);
}

// ---- no allocation on the hot path ----
// Every allocation of this test binary goes through these; the test below counts the ones made
// during repeated forward calls of a module that has already run once (its workspace is sized).
namespace {
std::atomic<long> g_news{0};
}  // namespace
void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// (GCC sees free() on what operator new returned and warns of a mismatch: here that is the pair)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

TEST(rnn_semantics, forward_allocates_nothing_after_the_first_call) {
  rnnx::ThreadPool& pool = rnnx::ThreadPool::global();
  const int threads0 = pool.threads();
  struct Case {
    CellType cell;
    int64_t I, H, B, T;
  };
  // a stream step (batch 1, one step), a sequence at batch 1, a batch; fused and general paths
  const Case cases[] = {{CellType::kLstm, 256, 256, 1, 1}, {CellType::kGru, 64, 128, 1, 40}, {CellType::kRnn, 32, 96, 9, 7},
                        {CellType::kLstm, 48, 80, 5, 6}, {CellType::kGru, 32, 128, 1, 100}};
  for (int threads : {1, 2}) {
    pool.set_threads(threads);
    for (const Case& c : cases)
      for (bool general : {false, true}) {
        RnnConfig cfg = make_config(c.cell, c.I, c.H, 1, false);
        if (general) cfg.clip = 50.f;  // a clip keeps the step off the fused kernel
        Rng rng(7);
        const std::vector<double> wd = weights_for(cfg, rng);
        const std::vector<float> w(wd.begin(), wd.end());
        rnnx::Rnn<float> rnn(cfg, w.data(), static_cast<int64_t>(w.size()));
        std::vector<float> x(static_cast<size_t>(c.T * c.B * c.I), 0.25f), y(static_cast<size_t>(c.T * c.B * c.H));
        std::vector<float> hn(static_cast<size_t>(c.B * c.H)), cn(hn.size());
        rnnx::ForwardArgs<float> a;
        a.seq_len = c.T;
        a.batch = c.B;
        a.x = x.data();
        a.y = y.data();
        a.h0 = hn.data();  // streaming: the state carried from call to call, in place
        a.hn = hn.data();
        if (c.cell == CellType::kLstm) {
          a.c0 = cn.data();
          a.cn = cn.data();
        }
        for (int i = 0; i < 3; ++i) rnn.forward(a, nullptr);
        const long before = g_news.load();
        for (int i = 0; i < 50; ++i) rnn.forward(a, nullptr);
        const long made = g_news.load() - before;
        CHECK_MSG(made == 0, made << " allocations in 50 calls: " << describe(cfg) << " B " << c.B << " T " << c.T << ", "
                                  << threads << " threads");
      }
  }
  pool.set_threads(threads0);
}
