// test_rnn_grad.cc — BPTT gradients of Rnn<double> against central finite differences.
//
// Loss = sum(y * gy) + sum(hn * ghn) + sum(cn * gcn) with random gy / ghn / gcn, so dL/dy = gy etc.
// Every element of dx, dh0, dc0 and of every weight is checked against (L(p+e) - L(p-e)) / 2e,
// e = 1e-6, and must agree to 1e-6 relative to the tensor's largest gradient (floor 1e-3). Where
// an activation has a kink or a jump (relu, hard_sigmoid, thresholded_relu, clip), a
// finite difference that straddles it is meaningless; such an element is recognised by its
// finite difference changing with the step (e vs e/4) and skipped — at most 2% may be.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "guard_buffer.h"
#include "reference.h"
#include "rnn_harness.h"
#include "rnnx/rnn.h"
#include "test.h"
#include "util.h"

using rnnx::Activation;
using rnnx::CellType;
using rnnx::RnnConfig;
using namespace rnnx_test;

namespace {

constexpr double kEps = 1e-6;
constexpr double kTol = 1e-6;
constexpr double kFloor = 1e-3;

struct GradCase {
  explicit GradCase(std::string n, RnnConfig c = {}) : name(std::move(n)), cfg(c) {}
  std::string name;
  RnnConfig cfg;
  int64_t T = 4, B = 3;
  std::vector<int32_t> lengths;  // empty: full length
  bool give_h0 = true, give_c0 = true;
};

struct Problem {
  RnnConfig cfg;
  int64_t T, B;
  Sizes sz;
  bool lstm;
  std::vector<double> w;
  GuardBuffer<double> x, h0, c0, gy, ghn, gcn;
  GuardBuffer<int32_t> len;
  GuardBuffer<double> y, hn, cn;  // scratch outputs of the loss evaluations
  bool use_lengths;

  Problem(const GradCase& gc, Rng& rng)
      : cfg(gc.cfg), T(gc.T), B(gc.B), sz(sizes_of(gc.cfg, gc.T, gc.B)), lstm(gc.cfg.cell == CellType::kLstm),
        x(static_cast<size_t>(sz.x)), h0(static_cast<size_t>(sz.h)), c0(static_cast<size_t>(sz.c)),
        gy(static_cast<size_t>(sz.y)), ghn(static_cast<size_t>(sz.h)), gcn(static_cast<size_t>(sz.c)),
        len(gc.lengths), y(static_cast<size_t>(sz.y)), hn(static_cast<size_t>(sz.h)), cn(static_cast<size_t>(sz.c)),
        use_lengths(!gc.lengths.empty()) {
    w = rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.6, 0.6);
    rng.fill(x);
    if (gc.give_h0) rng.fill(h0); else h0.fill(0);
    if (gc.give_c0) rng.fill(c0); else c0.fill(0);
    rng.fill(gy);
    rng.fill(ghn);
    rng.fill(gcn);
  }

  // Forward (no tape) into the scratch outputs and the loss. h0p / c0p may be null.
  double loss(rnnx::Rnn<double>& rnn, const double* h0p, const double* c0p) {
    rnnx::ForwardArgs<double> a;
    a.seq_len = T;
    a.batch = B;
    a.x = x.data();
    a.h0 = h0p;
    a.c0 = lstm ? c0p : nullptr;
    a.lengths = use_lengths ? len.data() : nullptr;
    a.y = y.data();
    a.hn = hn.data();
    a.cn = lstm ? cn.data() : nullptr;
    rnn.forward(a, nullptr);
    long double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += static_cast<long double>(y[i]) * gy[i];
    for (size_t i = 0; i < hn.size(); ++i) s += static_cast<long double>(hn[i]) * ghn[i];
    if (lstm)
      for (size_t i = 0; i < cn.size(); ++i) s += static_cast<long double>(cn[i]) * gcn[i];
    return static_cast<double>(s);
  }
};

// Central difference of `f` in element p[i].
double central(double* p, size_t i, double e, const std::function<double()>& f) {
  const double saved = p[i];
  p[i] = saved + e;
  const double lp = f();
  p[i] = saved - e;
  const double lm = f();
  p[i] = saved;
  return (lp - lm) / (2 * e);
}

// Compares an analytic gradient with finite differences over p[0..n). Returns the number of
// failing elements; adds skipped (kink) elements to *skipped.
int compare(const std::string& label, const std::string& tensor, const double* got, double* p, size_t n,
            const std::function<double()>& f, int* skipped, int* checked) {
  if (n == 0) return 0;
  std::vector<double> fd(n);
  for (size_t i = 0; i < n; ++i) fd[i] = central(p, i, kEps, f);
  double ref = kFloor;
  for (double v : fd) ref = std::max(ref, std::fabs(v));
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    ++*checked;
    if (std::isnan(got[i])) {
      if (bad++ < 3)
        report(__FILE__, __LINE__, label + ": d" + tensor + "[" + std::to_string(i) + "] is NaN");
      continue;
    }
    double err = std::fabs(got[i] - fd[i]) / ref;
    if (err <= kTol) continue;
    // Straddling a kink? Then the finite difference depends on the step.
    double fd2 = central(p, i, kEps / 4, f);
    if (std::fabs(fd2 - fd[i]) / ref > kTol) {
      ++*skipped;
      continue;
    }
    if (bad++ < 3)
      report(__FILE__, __LINE__,
             label + ": d" + tensor + "[" + std::to_string(i) + "] = " + str(got[i]) + ", finite difference " +
                 str(fd[i]) + " (rel err " + str(err) + ")");
  }
  if (bad > 3) report(__FILE__, __LINE__, label + ": d" + tensor + ": " + std::to_string(bad) + " elements wrong");
  return bad;
}

void check_grad(const GradCase& gc, uint64_t seed) {
  Rng rng(seed);
  Problem pb(gc, rng);
  const std::string label = gc.name + " [" + describe(gc.cfg) + " T=" + std::to_string(gc.T) +
                            " B=" + std::to_string(gc.B) + (gc.lengths.empty() ? "" : " lengths") +
                            (gc.give_h0 ? "" : " no-h0") + (gc.give_c0 ? "" : " no-c0") + "]";
  const int64_t count = static_cast<int64_t>(pb.w.size());
  rnnx::Rnn<double> rnn(gc.cfg, pb.w.data(), count);
  REQUIRE(rnn.param_count() == count);

  // Forward with a tape, in fresh guard buffers (outputs start NaN: everything must be written).
  GuardBuffer<double> y(static_cast<size_t>(pb.sz.y)), hn(static_cast<size_t>(pb.sz.h)), cn(static_cast<size_t>(pb.sz.c));
  rnnx::Tape<double> tape;
  rnnx::ForwardArgs<double> a;
  a.seq_len = pb.T;
  a.batch = pb.B;
  a.x = pb.x.data();
  a.h0 = gc.give_h0 ? pb.h0.data() : nullptr;
  a.c0 = pb.lstm && gc.give_c0 ? pb.c0.data() : nullptr;
  a.lengths = pb.use_lengths ? pb.len.data() : nullptr;
  a.y = y.data();
  a.hn = hn.data();
  a.cn = pb.lstm ? cn.data() : nullptr;
  rnn.forward(a, &tape);
  for (size_t i = 0; i < y.size(); ++i)
    if (std::isnan(y[i])) {
      report(__FILE__, __LINE__, label + ": y[" + std::to_string(i) + "] not written");
      return;
    }

  GuardBuffer<double> dx(static_cast<size_t>(pb.sz.x)), dh0(static_cast<size_t>(pb.sz.h)),
      dc0(static_cast<size_t>(pb.sz.c)), dw(static_cast<size_t>(count));
  rnnx::BackwardArgs<double> g;
  g.gy = pb.gy.data();
  g.ghn = pb.ghn.data();
  g.gcn = pb.lstm ? pb.gcn.data() : nullptr;
  g.dx = dx.data();
  g.dh0 = dh0.data();
  g.dc0 = pb.lstm ? dc0.data() : nullptr;
  g.dw = dw.data();
  rnn.backward(tape, g);

  // Base loss: null initial state must equal explicit zeros.
  {
    double l_null = pb.loss(rnn, gc.give_h0 ? pb.h0.data() : nullptr, gc.give_c0 ? pb.c0.data() : nullptr);
    double l_explicit = pb.loss(rnn, pb.h0.data(), pb.c0.data());
    CHECK_MSG(l_null == l_explicit, label << ": null h0/c0 differ from explicit zeros");
  }
  // dx is exactly zero at padded steps.
  if (pb.use_lengths)
    for (int64_t b = 0; b < pb.B; ++b)
      for (int64_t t = gc.lengths[static_cast<size_t>(b)]; t < pb.T; ++t)
        for (int64_t i = 0; i < gc.cfg.input_size; ++i) {
          double v = dx[static_cast<size_t>(row_offset(gc.cfg, pb.T, pb.B, t, b, gc.cfg.input_size) + i)];
          CHECK_MSG(v == 0.0, label << ": dx at padded t=" << t << " b=" << b << " is " << v);
        }

  auto L = [&]() { return pb.loss(rnn, pb.h0.data(), pb.c0.data()); };
  int skipped = 0, checked = 0;
  compare(label, "x", dx.data(), pb.x.data(), pb.x.size(), L, &skipped, &checked);
  compare(label, "h0", dh0.data(), pb.h0.data(), pb.h0.size(), L, &skipped, &checked);
  if (pb.lstm) compare(label, "c0", dc0.data(), pb.c0.data(), pb.c0.size(), L, &skipped, &checked);
  // Each weight tensor separately, named as PyTorch names it.
  std::vector<double> w = pb.w;
  auto Lw = [&]() {
    rnn.set_weights(w.data(), count);
    return pb.loss(rnn, pb.h0.data(), pb.c0.data());
  };
  for (const auto& s : rnn.params())
    compare(label, s.name, dw.data() + s.offset, w.data() + s.offset, static_cast<size_t>(s.size), Lw, &skipped,
            &checked);
  if (skipped > 0) std::printf("    %s: %d of %d elements skipped (finite difference across a kink)\n", label.c_str(), skipped, checked);
  CHECK_MSG(skipped * 50 <= checked, label << ": " << skipped << " of " << checked
                                           << " elements sit on a kink (more than 2%)");
}

RnnConfig cfg(CellType cell, int64_t I, int64_t H, int64_t L = 1, bool bidir = false) {
  return make_config(cell, I, H, L, bidir);
}

}  // namespace

TEST(rnn_grad, lstm) {
  GradCase c{"lstm", cfg(CellType::kLstm, 3, 4)};
  check_grad(c, 101);
}

TEST(rnn_grad, lstm_proj) {
  GradCase c{"lstm_proj", cfg(CellType::kLstm, 3, 5)};
  c.cfg.proj_size = 3;
  check_grad(c, 102);
}

TEST(rnn_grad, lstm_proj_bidir_2layers_lengths) {
  GradCase c{"lstm_proj_bidir2", cfg(CellType::kLstm, 3, 4, 2, true)};
  c.cfg.proj_size = 2;
  c.T = 5;
  c.lengths = {3, 1, 5};
  check_grad(c, 103);
}

TEST(rnn_grad, lstm_no_initial_state) {
  GradCase c{"lstm_no_init", cfg(CellType::kLstm, 3, 4)};
  c.give_h0 = c.give_c0 = false;
  check_grad(c, 104);
}

TEST(rnn_grad, lstm_2layers_bidir) {
  GradCase c{"lstm_bidir2", cfg(CellType::kLstm, 3, 4, 2, true)};
  check_grad(c, 105);
}

TEST(rnn_grad, lstm_batch_first_lengths) {
  GradCase c{"lstm_bf", cfg(CellType::kLstm, 3, 4, 1, true)};
  c.cfg.batch_first = true;
  c.T = 5;
  c.lengths = {3, 1, 5};
  check_grad(c, 106);
}

TEST(rnn_grad, lstm_no_bias) {
  GradCase c{"lstm_nobias", cfg(CellType::kLstm, 3, 4)};
  c.cfg.bias = false;
  check_grad(c, 107);
}

TEST(rnn_grad, gru_lbr) {
  GradCase c{"gru_lbr", cfg(CellType::kGru, 3, 4)};
  c.cfg.linear_before_reset = true;
  check_grad(c, 201);
}

TEST(rnn_grad, gru_no_lbr) {
  GradCase c{"gru_nolbr", cfg(CellType::kGru, 3, 4)};
  c.cfg.linear_before_reset = false;
  check_grad(c, 202);
}

TEST(rnn_grad, gru_2layers_bidir_batch_first_lengths) {
  for (bool lbr : {true, false}) {
    GradCase c{"gru_bidir2_bf", cfg(CellType::kGru, 3, 4, 2, true)};
    c.cfg.linear_before_reset = lbr;
    c.cfg.batch_first = true;
    c.T = 5;
    c.lengths = {3, 1, 5};
    check_grad(c, 203 + lbr);
  }
}

TEST(rnn_grad, gru_no_bias_no_h0) {
  for (bool lbr : {true, false}) {
    GradCase c{"gru_nobias", cfg(CellType::kGru, 3, 4)};
    c.cfg.linear_before_reset = lbr;
    c.cfg.bias = false;
    c.give_h0 = false;
    check_grad(c, 205 + lbr);
  }
}

TEST(rnn_grad, rnn_tanh) {
  GradCase c{"rnn_tanh", cfg(CellType::kRnn, 3, 4)};
  check_grad(c, 301);
}

TEST(rnn_grad, rnn_relu) {
  GradCase c{"rnn_relu", cfg(CellType::kRnn, 3, 4)};
  c.cfg.f = {Activation::kRelu, 0, 0};
  check_grad(c, 302);
}

TEST(rnn_grad, rnn_bidir_2layers_lengths_no_h0) {
  for (auto kind : {Activation::kTanh, Activation::kRelu}) {
    GradCase c{"rnn_bidir2", cfg(CellType::kRnn, 3, 4, 2, true)};
    c.cfg.f = {kind, 0, 0};
    c.T = 5;
    c.lengths = {3, 1, 5};
    c.give_h0 = false;
    check_grad(c, 303 + static_cast<int>(kind));
  }
}

TEST(rnn_grad, rnn_batch_first_no_bias) {
  GradCase c{"rnn_bf_nobias", cfg(CellType::kRnn, 3, 4, 1, true)};
  c.cfg.batch_first = true;
  c.cfg.bias = false;
  check_grad(c, 306);
}

// Every activation kind in every slot a cell uses: LSTM f, g, h; GRU f, g (both reset modes); RNN f.
TEST(rnn_grad, every_activation) {
  uint64_t seed = 1000;
  for (const auto& [name, act] : all_activations()) {
    for (int slot = 0; slot < 6; ++slot) {
      GradCase c{"act_" + name};
      switch (slot) {
        case 0: c.cfg = cfg(CellType::kLstm, 2, 3); c.cfg.f = act; c.name += "_lstm_f"; break;
        case 1: c.cfg = cfg(CellType::kLstm, 2, 3); c.cfg.g = act; c.name += "_lstm_g"; break;
        case 2: c.cfg = cfg(CellType::kLstm, 2, 3); c.cfg.h = act; c.name += "_lstm_h"; break;
        case 3: c.cfg = cfg(CellType::kGru, 2, 3); c.cfg.f = act; c.name += "_gru_f"; break;
        case 4:
          c.cfg = cfg(CellType::kGru, 2, 3);
          c.cfg.g = act;
          c.cfg.linear_before_reset = false;
          c.name += "_gru_g_nolbr";
          break;
        default: c.cfg = cfg(CellType::kRnn, 2, 3); c.cfg.f = act; c.name += "_rnn_f"; break;
      }
      c.T = 3;
      c.B = 2;
      c.lengths = {3, 2};
      check_grad(c, seed++);
    }
  }
}

TEST(rnn_grad, clip) {
  uint64_t seed = 2000;
  for (auto cell : {CellType::kLstm, CellType::kGru, CellType::kRnn}) {
    for (bool lbr : {true, false}) {
      if (cell != CellType::kGru && !lbr) continue;
      GradCase c{"clip", cfg(cell, 3, 4, 1, true)};
      c.cfg.clip = 0.5;
      c.cfg.linear_before_reset = lbr;
      check_grad(c, seed++);
    }
  }
}

// accumulate_dw adds into dw; a tape can be back-propagated twice with the same result; null loss
// gradients mean zeros.
TEST(rnn_grad, accumulate_repeat_and_null_gradients) {
  Rng rng(3000);
  RnnConfig c = cfg(CellType::kLstm, 3, 4, 2, true);
  c.proj_size = 2;
  const int64_t T = 4, B = 3;
  auto w = rng.vec<double>(static_cast<size_t>(param_total(c)), -0.6, 0.6);
  rnnx::Rnn<double> rnn(c, w.data(), static_cast<int64_t>(w.size()));
  FwdIn in = random_input(c, T, B, rng, true, true, {4, 2, 3});
  rnnx::Tape<double> tape;
  run_forward(rnn, in, &tape);
  const Sizes sz = sizes_of(c, T, B);
  auto gy = rng.vec<double>(static_cast<size_t>(sz.y));
  auto ghn = rng.vec<double>(static_cast<size_t>(sz.h));
  auto gcn = rng.vec<double>(static_cast<size_t>(sz.c));
  std::vector<double> zeros_y(static_cast<size_t>(sz.y), 0.0);

  auto run = [&](const double* gyp, bool acc, double dw_init) {
    std::vector<double> dx(static_cast<size_t>(sz.x)), dh0(static_cast<size_t>(sz.h)), dc0(static_cast<size_t>(sz.c)),
        dw(w.size(), dw_init);
    rnnx::BackwardArgs<double> g;
    g.gy = gyp;
    g.ghn = ghn.data();
    g.gcn = gcn.data();
    g.dx = dx.data();
    g.dh0 = dh0.data();
    g.dc0 = dc0.data();
    g.dw = dw.data();
    g.accumulate_dw = acc;
    rnn.backward(tape, g);
    std::vector<double> all = dx;
    all.insert(all.end(), dh0.begin(), dh0.end());
    all.insert(all.end(), dc0.begin(), dc0.end());
    all.insert(all.end(), dw.begin(), dw.end());
    return all;
  };
  auto first = run(gy.data(), false, 7.0);  // dw_init must be overwritten
  auto second = run(gy.data(), false, -3.0);
  CHECK_MSG(first == second, "backward twice through one tape differs");
  auto acc = run(gy.data(), true, 1.0);
  const size_t dw_at = static_cast<size_t>(sz.x + sz.h + sz.c);
  double worst = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    double want = i >= dw_at ? first[i] + 1.0 : first[i];
    worst = std::max(worst, std::fabs(acc[i] - want));
  }
  CHECK_MSG(worst <= 1e-12, "accumulate_dw: off by " << worst);
  auto null_gy = run(nullptr, false, 0.0);
  auto zero_gy = run(zeros_y.data(), false, 0.0);
  CHECK_MSG(null_gy == zero_gy, "gy = null differs from gy = zeros");
}
