// test_rnn_reference.cc — Rnn<double> / Rnn<float> forward against the independent naive
// implementation in reference.h (written from the formulas in rnnx/cell.h), across cells,
// projection, GRU reset modes, stacking, directions, layouts, lengths, every activation and clip.
#include <cstdio>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "isa.h"
#include "reference.h"
#include "rnn_harness.h"
#include "test.h"
#include "util.h"

using rnnx::Activation;
using rnnx::CellType;
using rnnx::RnnConfig;
using namespace rnnx_test;

namespace {

void against_reference(const RnnConfig& cfg, uint64_t seed, int64_t T = 5, int64_t B = 3,
                       std::vector<int32_t> lens = {5, 2, 4}, bool init = true) {
  Rng rng(seed);
  auto w = cast<double>(cast<float>(rng.vec<double>(static_cast<size_t>(param_total(cfg)), -0.6, 0.6)));
  FwdIn in = random_input(cfg, T, B, rng, init, init, lens);
  in.x = round_f32(in.x);
  in.h0 = round_f32(in.h0);
  in.c0 = round_f32(in.c0);
  RefOut ref = ref_forward(cfg, w, T, B, in.x.data(), in.h0.empty() ? nullptr : in.h0.data(),
                           in.c0.empty() ? nullptr : in.c0.data(), in.lengths.empty() ? nullptr : in.lengths.data());
  const bool lstm = cfg.cell == CellType::kLstm;
  FwdOut d = run_forward(*make_rnn<double>(cfg, w), in);
  double e = std::max({tensor_rel_err(d.y, ref.y, ref.y.size()), tensor_rel_err(d.hn, ref.hn, ref.hn.size()),
                       lstm ? tensor_rel_err(d.cn, ref.cn, ref.cn.size()) : 0.0});
  CHECK_MSG(e <= 1e-12, describe(cfg) << ": Rnn<double> vs reference rel err " << e);
  // Float32 on every kernel variant this machine can run.
  const std::string original = rnnx::cpu::selected_isa();
  for (const auto& isa : usable_isas()) {
    rnnx::cpu::set_isa(isa);
    FwdOut f = run_forward(*make_rnn<float>(cfg, w), in);
    double ef = std::max({tensor_rel_err(f.y, ref.y, ref.y.size()), tensor_rel_err(f.hn, ref.hn, ref.hn.size()),
                          lstm ? tensor_rel_err(f.cn, ref.cn, ref.cn.size()) : 0.0});
    CHECK_MSG(ef <= 1e-5, "[" << isa << "] " << describe(cfg) << ": Rnn<float> vs reference rel err " << ef);
  }
  rnnx::cpu::set_isa(original);
}

}  // namespace

TEST(rnn_reference, cells_layers_directions) {
  uint64_t seed = 1;
  for (auto cell : {CellType::kLstm, CellType::kGru, CellType::kRnn})
    for (int64_t L : {1, 2})
      for (bool bidir : {false, true})
        for (bool bf : {false, true}) {
          RnnConfig c = make_config(cell, 3, 5, L, bidir);
          c.batch_first = bf;
          against_reference(c, seed++);
          if (cell == CellType::kLstm) {
            c.proj_size = 2;
            against_reference(c, seed++);
          }
          if (cell == CellType::kGru) {
            c.linear_before_reset = false;
            against_reference(c, seed++);
          }
        }
}

TEST(rnn_reference, no_bias_no_initial_state_no_lengths) {
  uint64_t seed = 100;
  for (auto cell : {CellType::kLstm, CellType::kGru, CellType::kRnn}) {
    RnnConfig c = make_config(cell, 4, 3, 2, true);
    c.bias = false;
    against_reference(c, seed++, 4, 2, {}, false);
    against_reference(c, seed++, 1, 1, {}, true);
  }
}

TEST(rnn_reference, sizes_around_vector_widths) {
  uint64_t seed = 200;
  for (int64_t H : {1, 7, 8, 9, 15, 16, 17, 33})
    for (auto cell : {CellType::kLstm, CellType::kGru, CellType::kRnn}) {
      RnnConfig c = make_config(cell, H + 2, H, 1, true);
      against_reference(c, seed++, 3, 5, {3, 1, 2, 3, 2});
    }
}

TEST(rnn_reference, every_activation) {
  uint64_t seed = 300;
  for (const auto& [name, act] : all_activations()) {
    RnnConfig l = make_config(CellType::kLstm, 3, 4);
    l.f = act;
    against_reference(l, seed++);
    l = make_config(CellType::kLstm, 3, 4);
    l.g = act;
    against_reference(l, seed++);
    l = make_config(CellType::kLstm, 3, 4);
    l.h = act;
    against_reference(l, seed++);
    for (bool lbr : {true, false}) {
      RnnConfig g = make_config(CellType::kGru, 3, 4);
      g.linear_before_reset = lbr;
      g.f = act;
      against_reference(g, seed++);
      g = make_config(CellType::kGru, 3, 4);
      g.linear_before_reset = lbr;
      g.g = act;
      against_reference(g, seed++);
    }
    RnnConfig r = make_config(CellType::kRnn, 3, 4);
    r.f = act;
    against_reference(r, seed++);
  }
}

TEST(rnn_reference, clip_gru_rnn) {
  uint64_t seed = 400;
  for (auto cell : {CellType::kGru, CellType::kRnn})
    for (bool lbr : {true, false}) {
      RnnConfig c = make_config(cell, 3, 4, 1, true);
      c.clip = 0.4;
      c.linear_before_reset = lbr;
      against_reference(c, seed++);
    }
}

// ONNX / onnxruntime clip the gate pre-activations (i, f, g, o), not the cell state c on its way
// into h(): onnxruntime's LSTM calls h() on the unclipped C_t.
TEST(rnn_reference, clip_lstm_gates_only) {
  RnnConfig c = make_config(CellType::kLstm, 3, 4, 1, true);
  c.clip = 0.4;
  against_reference(c, 500);
  c.proj_size = 2;
  against_reference(c, 501);
}
