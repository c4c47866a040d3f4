// test_untrusted.cc — the core fed hostile input, as a model file or a buggy caller could: negative
// and huge sizes, zero layers, products that overflow, wrong weight counts, null pointers, lengths
// out of range, enum values out of range, NaN / infinite weights and inputs, tapes of another
// module. Each must end in a thrown rnnx::Error with the right Code (or, for non-finite numbers, a
// normal return), never a crash, an out-of-bounds access or a huge allocation: scripts/ctest.mjs
// also runs this file under ASan + UBSan.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "guard_buffer.h"
#include "rnn_harness.h"
#include "rnnx/rnn.h"
#include "test.h"
#include "util.h"

using rnnx::ActSpec;
using rnnx::Activation;
using rnnx::CellType;
using rnnx::Code;
using rnnx::Precision;
using rnnx::Rnn;
using rnnx::RnnConfig;
using namespace rnnx_test;

namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
const CellType kCells[] = {CellType::kRnn, CellType::kLstm, CellType::kGru};

// A configuration must be refused by param_specs and by the Rnn constructor (before it reads the
// weights: the pointer given is a one-element buffer) with `code`.
template <typename T>
void refused(const RnnConfig& c, Code code) {
  CHECK_THROWS_CODE(rnnx::param_specs(c), code);
  T w[1] = {0};
  CHECK_THROWS_CODE(Rnn<T>(c, w, 1), code);
  CHECK_THROWS_CODE(Rnn<T>(c, nullptr, 0), code);
}

void refused_both(const RnnConfig& c, Code code) {
  refused<float>(c, code);
  refused<double>(c, code);
}

}  // namespace

TEST(untrusted, negative_zero_and_huge_sizes) {
  const int64_t bad[] = {0, -1, -7, kI64Min, (int64_t(1) << 24) + 1, int64_t(1) << 31, int64_t(1) << 40, kI64Max};
  for (CellType cell : kCells) {
    for (int64_t v : bad) {
      RnnConfig c = make_config(cell, 3, 4);
      c.input_size = v;
      refused_both(c, Code::kInvalidArgument);
      c = make_config(cell, 3, 4);
      c.hidden_size = v;
      refused_both(c, Code::kInvalidArgument);
    }
    const int64_t bad_layers[] = {0, -1, 1025, int64_t(1) << 32, kI64Max, kI64Min};
    for (int64_t v : bad_layers) {
      RnnConfig c = make_config(cell, 3, 4);
      c.num_layers = v;
      refused_both(c, Code::kInvalidArgument);
    }
  }
}

TEST(untrusted, projection_and_cell_options) {
  for (int64_t p : {int64_t(-1), int64_t(4), int64_t(5), kI64Max, kI64Min}) {
    RnnConfig c = make_config(CellType::kLstm, 3, 4);
    c.proj_size = p;
    refused_both(c, Code::kInvalidArgument);
  }
  for (CellType cell : {CellType::kRnn, CellType::kGru}) {
    RnnConfig c = make_config(cell, 3, 4);
    c.proj_size = 2;
    refused_both(c, Code::kInvalidArgument);
    c = make_config(cell, 3, 4);
    c.peepholes = true;
    refused_both(c, Code::kInvalidArgument);
    c = make_config(cell, 3, 4);
    c.input_forget = true;
    refused_both(c, Code::kInvalidArgument);
  }
  for (int v : {-1, 3, 255, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()}) {
    RnnConfig c = make_config(CellType::kLstm, 3, 4);
    c.cell = static_cast<CellType>(v);
    refused_both(c, Code::kInvalidArgument);
  }
}

TEST(untrusted, activations_and_clip) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (int k : {-1, 11, 1000, std::numeric_limits<int>::min()}) {
    RnnConfig c = make_config(CellType::kGru, 3, 4);
    c.g = ActSpec{static_cast<Activation>(k), 0, 0};
    refused_both(c, Code::kInvalidArgument);
  }
  for (double a : {nan, inf, -inf}) {
    RnnConfig c = make_config(CellType::kLstm, 3, 4);
    c.f.alpha = a;
    refused_both(c, Code::kInvalidArgument);
    c = make_config(CellType::kLstm, 3, 4);
    c.h.beta = a;
    refused_both(c, Code::kInvalidArgument);
  }
  for (double clip : {nan, inf, -1.0, -inf}) {
    RnnConfig c = make_config(CellType::kRnn, 3, 4);
    c.clip = clip;
    refused_both(c, Code::kInvalidArgument);
  }
}

TEST(untrusted, size_products_that_overflow) {
  // every factor is in range, the products are not: hidden_size * gates * input_size, the whole
  // stack, a projection; reported as kOutOfMemory before any allocation
  struct Case {
    CellType cell;
    int64_t I, H, L;
    bool bi;
    int64_t P;
  };
  const Case cases[] = {
      {CellType::kLstm, int64_t(1) << 24, int64_t(1) << 24, 1, false, 0},
      {CellType::kGru, int64_t(1) << 20, int64_t(1) << 20, 1, false, 0},
      {CellType::kRnn, 1, int64_t(1) << 21, 1, false, 0},          // weight_hh H*H = 2^42
      {CellType::kLstm, 1, int64_t(1) << 19, 1, false, 0},         // weight_hh 4H*H = 2^40, x4 bytes
      {CellType::kLstm, 16, int64_t(1) << 16, 1024, true, 0},      // 2048 x 2^34 elements
      {CellType::kLstm, 1, int64_t(1) << 24, 2, true, (int64_t(1) << 24) - 1},
      {CellType::kGru, int64_t(1) << 24, int64_t(1) << 17, 1, false, 0},  // 3 * 2^41
  };
  for (const Case& k : cases) {
    RnnConfig c = make_config(k.cell, k.I, k.H, k.L, k.bi);
    c.proj_size = k.P;
    refused_both(c, Code::kOutOfMemory);
  }
}

TEST(untrusted, wrong_weight_counts_and_null_weights) {
  for (CellType cell : kCells) {
    RnnConfig c = make_config(cell, 3, 4, 2, true);
    const int64_t n = param_total(c);
    GuardBuffer<float> w(static_cast<size_t>(n));
    for (int64_t count : {int64_t(0), n - 1, n + 1, int64_t(-1), kI64Min, kI64Max, 2 * n}) {
      CHECK_THROWS_CODE(Rnn<float>(c, w.data(), count), Code::kShapeMismatch);
    }
    CHECK_THROWS_CODE(Rnn<float>(c, nullptr, n), Code::kInvalidArgument);
    Rnn<float> rnn(c, w.data(), n);
    for (int64_t count : {int64_t(0), n - 1, n + 1, int64_t(-1), kI64Min, kI64Max}) {
      CHECK_THROWS_CODE(rnn.set_weights(w.data(), count), Code::kShapeMismatch);
    }
    CHECK_THROWS_CODE(rnn.set_weights(nullptr, n), Code::kInvalidArgument);
    for (int p : {-1, 3, 99}) CHECK_THROWS_CODE(rnn.set_precision(static_cast<Precision>(p)), Code::kInvalidArgument);
    Rnn<double> rd(c, std::vector<double>(static_cast<size_t>(n)).data(), n);
    CHECK_THROWS_CODE(rd.set_precision(Precision::kInt8), Code::kInvalidArgument);
  }
}

TEST(untrusted, call_shapes_and_lengths) {
  Rng rng(11);
  for (CellType cell : kCells) {
    RnnConfig c = make_config(cell, 3, 4, 1, true);
    auto rnn = make_rnn<float>(c, rng.vec<double>(static_cast<size_t>(param_total(c)), -0.5, 0.5));
    const int64_t T = 3, B = 2;
    const Sizes sz = sizes_of(c, T, B);
    GuardBuffer<float> x(static_cast<size_t>(sz.x)), y(static_cast<size_t>(sz.y));
    for (int64_t t : {int64_t(0), int64_t(-1), kI64Min, int64_t(1) << 31, kI64Max}) {
      CHECK_THROWS_CODE(rnn->check_call(t, B, nullptr), Code::kShapeMismatch);
      CHECK_THROWS_CODE(rnn->check_call(B, t, nullptr), Code::kShapeMismatch);
      rnnx::ForwardArgs<float> a;
      a.seq_len = t;
      a.batch = B;
      a.x = x.data();
      a.y = y.data();
      CHECK_THROWS_CODE(rnn->forward(a, nullptr), Code::kShapeMismatch);
    }
    // each dimension fits, the activations do not: refused before anything is allocated
    CHECK_THROWS_CODE(rnn->check_call(int64_t(1) << 30, int64_t(1) << 30, nullptr), Code::kOutOfMemory);
    CHECK_THROWS_CODE(rnn->check_call((int64_t(1) << 31) - 1, (int64_t(1) << 31) - 1, nullptr), Code::kOutOfMemory);
    for (int32_t bad : {0, -1, 4, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}) {
      const int32_t lens[2] = {2, bad};
      CHECK_THROWS_CODE(rnn->check_call(T, B, lens), Code::kInvalidArgument);
      rnnx::ForwardArgs<float> a;
      a.seq_len = T;
      a.batch = B;
      a.x = x.data();
      a.y = y.data();
      a.lengths = lens;
      CHECK_THROWS_CODE(rnn->forward(a, nullptr), Code::kInvalidArgument);
    }
    rnnx::ForwardArgs<float> a;
    a.seq_len = T;
    a.batch = B;
    a.y = y.data();
    CHECK_THROWS_CODE(rnn->forward(a, nullptr), Code::kInvalidArgument);  // no x
    a.x = x.data();
    a.y = nullptr;
    rnnx::Tape<float> tape;
    CHECK_THROWS_CODE(rnn->forward(a, &tape), Code::kInvalidArgument);  // no y, with a tape
  }
}

TEST(untrusted, tapes_that_do_not_belong) {
  Rng rng(12);
  for (CellType cell : kCells) {
    RnnConfig small = make_config(cell, 3, 4);
    RnnConfig big = make_config(cell, 9, 13);
    auto a = make_rnn<float>(small, rng.vec<double>(static_cast<size_t>(param_total(small)), -0.5, 0.5));
    auto b = make_rnn<float>(big, rng.vec<double>(static_cast<size_t>(param_total(big)), -0.5, 0.5));
    const int64_t T = 4, B = 2;
    FwdIn in;
    in.T = T;
    in.B = B;
    in.x = rng.vec<double>(static_cast<size_t>(T * B * small.input_size));
    rnnx::Tape<float> tape;
    run_forward(*a, in, &tape);
    const Sizes sb = sizes_of(big, T, B);
    std::vector<float> dx(static_cast<size_t>(sb.x)), dw(static_cast<size_t>(b->param_count()));
    std::vector<float> gy(static_cast<size_t>(sb.y), 1.f);
    rnnx::BackwardArgs<float> g;
    g.gy = gy.data();
    g.dx = dx.data();
    g.dw = dw.data();
    // the same layer count and weights version, but another module's shapes
    CHECK_THROWS_CODE(b->backward(tape, g), Code::kInvalidArgument);
    // an empty tape, and one whose weights changed since
    rnnx::Tape<float> empty;
    CHECK_THROWS_CODE(a->backward(empty, g), Code::kInvalidArgument);
    std::vector<float> w(a->weights(), a->weights() + a->param_count());
    a->set_weights(w.data(), a->param_count());
    CHECK_THROWS_CODE(a->backward(tape, g), Code::kInvalidArgument);
  }
}

TEST(untrusted, non_finite_weights_and_inputs_do_not_crash) {
  // NaN / inf / huge weights (loaders refuse them, but the core must not depend on that): every
  // cell, precision and layout runs to completion; NaN may propagate, nothing may crash or trap
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Rng rng(13);
  for (CellType cell : kCells) {
    for (bool proj : {false, true}) {
      if (proj && cell != CellType::kLstm) continue;
      RnnConfig c = make_config(cell, 5, 6, 2, true);
      if (proj) c.proj_size = 3;
      const int64_t n = param_total(c);
      std::vector<double> w = rng.vec<double>(static_cast<size_t>(n), -0.5, 0.5);
      for (int64_t i = 0; i < n; i += 7) w[static_cast<size_t>(i)] = (i / 7) % 3 == 0 ? nan : (i / 7) % 3 == 1 ? inf : -3e38;
      for (Precision p : {Precision::kFloat32, Precision::kBf16, Precision::kInt8}) {
        auto rnn = make_rnn<float>(c, w);
        rnn->set_precision(p);
        FwdIn in;
        in.T = 4;
        in.B = 3;
        in.x = rng.vec<double>(static_cast<size_t>(in.T * in.B * c.input_size));
        in.x[1] = nan;
        in.x[2] = inf;
        in.lengths = {4, 1, 3};
        CHECK_NOTHROW(run_forward(*rnn, in));
      }
      auto rd = make_rnn<double>(c, w);
      rnnx::Tape<double> tape;
      FwdIn in;
      in.T = 3;
      in.B = 2;
      in.x = rng.vec<double>(static_cast<size_t>(in.T * in.B * c.input_size));
      CHECK_NOTHROW(run_forward(*rd, in, &tape));
      const Sizes sz = sizes_of(c, in.T, in.B);
      std::vector<double> dx(static_cast<size_t>(sz.x)), dw(static_cast<size_t>(n)), gy(static_cast<size_t>(sz.y), 1.0);
      rnnx::BackwardArgs<double> g;
      g.gy = gy.data();
      g.dx = dx.data();
      g.dw = dw.data();
      CHECK_NOTHROW(rd->backward(tape, g));
    }
  }
}
