// kbench.cc — a native timing loop over the CONFIGS.md shapes, for kernel work: no Node, no peers.
// Usage: kbench [threads...] [bf16|int8] [config name parts...]; built by scripts/kbench.sh.
// The real benchmark (peers, ratios, checked outputs) is bench/.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../src/cpu/dispatch.h"
#include "rnnx/rnn.h"
#include "rnnx/thread_pool.h"

using namespace rnnx;


struct Cfg {
  const char* name;
  CellType cell;
  int64_t I, H, B, T;
  bool train;
};

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  std::vector<int> threads;
  std::vector<std::string> only;
  Precision prec = Precision::kFloat32;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "bf16")
      prec = Precision::kBf16;
    else if (std::string(argv[i]) == "int8")
      prec = Precision::kInt8;
    else if (argv[i][0] >= '0' && argv[i][0] <= '9')
      threads.push_back(std::atoi(argv[i]));
    else
      only.push_back(argv[i]);
  }
  if (threads.empty()) threads = {1, 2};
  std::vector<Cfg> cfgs = {
      {"C1-LSTM", CellType::kLstm, 256, 256, 1, 1, false},  {"C2-LSTM", CellType::kLstm, 128, 256, 1, 32, false},
      {"C2-GRU", CellType::kGru, 128, 256, 1, 32, false},   {"C2-RNN", CellType::kRnn, 128, 256, 1, 32, false},
      {"C5-GRU", CellType::kGru, 128, 128, 1, 1000, false}, {"C3-LSTM", CellType::kLstm, 512, 512, 64, 100, false},
      {"C3-GRU", CellType::kGru, 512, 512, 64, 100, false}, {"C3-RNN", CellType::kRnn, 512, 512, 64, 100, false},
      {"C4-LSTM", CellType::kLstm, 256, 256, 32, 50, true},
      {"C4fwd-LSTM", CellType::kLstm, 256, 256, 32, 50, false},  // C4's forward alone (no tape)
  };
  // KBENCH_SHAPE="cell,I,H,B,T" (cell lstm|gru|rnn) adds a forward config named X
  if (const char* e = std::getenv("KBENCH_SHAPE")) {
    char cell[8] = {0};
    long I = 0, H = 0, B = 0, T = 0;
    if (std::sscanf(e, "%7[a-z],%ld,%ld,%ld,%ld", cell, &I, &H, &B, &T) == 5 && I > 0 && H > 0 && B > 0 && T > 0)
      cfgs.push_back({"X", std::string(cell) == "gru" ? CellType::kGru : std::string(cell) == "rnn" ? CellType::kRnn : CellType::kLstm,
                      I, H, B, T, false});
  }
  // KBENCH_MODE=0|1|2 forces batch 1's long-sequence mode (team, pipe, one thread) instead of the tuner
  if (const char* e = std::getenv("KBENCH_MODE")) rnnx::testing::force_step_mode(std::atoi(e));
  const bool trace = std::getenv("KBENCH_TRACE") != nullptr;  // KBENCH_TRACE=1: the first 200 call times
  std::printf("isa %s\n", cpu::selected_isa().c_str());
  for (int th : threads) {
    ThreadPool::global().set_threads(th);
    std::printf("threads %d: fma peak %.0f GFLOP/s\n", th, cpu::fma_peak_gflops(th, 0.2));
    if (th > 1) std::printf("threads %d: handoff %.0f ns one way\n", th, rnnx::handoff_latency_ns(20000));
    for (const Cfg& c : cfgs) {
      if (!only.empty() && std::none_of(only.begin(), only.end(), [&](const std::string& o) { return std::string(c.name).find(o) != std::string::npos; }))
        continue;
      RnnConfig rc;
      rc.cell = c.cell;
      rc.input_size = c.I;
      rc.hidden_size = c.H;
      if (c.cell == CellType::kRnn) rc.f = ActSpec{Activation::kTanh, 0, 0};  // PyTorch's RNN
      std::vector<ParamSpec> ps = param_specs(rc);
      const int64_t n = ps.back().offset + ps.back().size;
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> u(-0.1f, 0.1f);
      std::vector<float> w(n), x(c.T * c.B * c.I), y(c.T * c.B * c.H), hn(c.B * c.H), cn(c.B * c.H);
      for (auto& v : w) v = u(rng);
      for (auto& v : x) v = u(rng);
      Rnn<float> rnn(rc, w.data(), n);
      if (!c.train) rnn.set_precision(prec);
      ForwardArgs<float> a;
      a.seq_len = c.T;
      a.batch = c.B;
      a.x = x.data();
      a.y = y.data();
      a.hn = hn.data();
      a.cn = c.cell == CellType::kLstm ? cn.data() : nullptr;
      // KBENCH_NOY=1: no per-step outputs (what forward's returnSequences: false asks for)
      if (std::getenv("KBENCH_NOY") && !c.train) a.y = nullptr;
      // KBENCH_STREAM=1: the state carried from call to call in place, as a stream step does
      if (std::getenv("KBENCH_STREAM")) {
        a.h0 = a.hn;
        a.c0 = a.cn;
      }
      Tape<float> tape;
      std::vector<float> dx(x.size()), dw(n), gy(y.size(), 1.f);
      BackwardArgs<float> ba;
      ba.gy = gy.data();
      ba.dx = dx.data();
      ba.dw = dw.data();
      const double flops = 2.0 * c.B * c.T * gate_count(c.cell) * c.H * (c.I + c.H) * (c.train ? 3 : 1);
      std::vector<double> ts;
      const auto t_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(c.T * c.B >= 1000 ? 1500 : 400);
      for (int it = 0; it < 3 || (std::chrono::steady_clock::now() < t_end && it < 20000); ++it) {
        const auto t0 = std::chrono::steady_clock::now();
        if (c.train) {
          rnn.forward(a, &tape);
          rnn.backward(tape, ba);
        } else {
          rnn.forward(a, nullptr);
        }
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (it > 0) ts.push_back(dt);
        if (trace && it < 200) std::printf("%s%.0f%s", it % 10 == 0 ? "    " : "", dt * 1e6, it % 10 == 9 ? "\n" : " ");
      }
      const double m = median(ts);
      double mean = 0;
      for (double t : ts) mean += t / static_cast<double>(ts.size());
      std::printf("  %-8s %10.1f us  %6.1f GFLOP/s  (%zu runs, mean %.1f us)\n", c.name, m * 1e6, flops / m / 1e9, ts.size(), mean * 1e6);
    }
  }
  return 0;
}
