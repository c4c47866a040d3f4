// rnn.cc — the sequence loop of a stack of recurrent layers, forward and BPTT, over the CPU
// KernelTable. Device-independent algorithm; the per-element math lives in the kernels.
//
// Forward, per layer l and direction d (time-major buffers, row = t * B + b):
//   1. XW[T*B, GH] = X_l * W_ih^T + b_ih (+ b_hh for LSTM/RNN, where both biases add to the same
//      pre-activation; GRU keeps b_hh with the recurrent term because r multiplies it).
//   2. For step s < max(lengths): HH[B, GH] = h * W_hh^T (+ b_hh for GRU), then each sequence b
//      still running (s < lengths[b]) updates its state at its own time t = s (forward) or
//      t = lengths[b] - 1 - s (reverse: it starts at the sequence's own end). Finished sequences
//      keep their state, so the final state is taken at each sequence's own end; padded outputs
//      stay zero.
// Backward mirrors it: the gradient of the state runs backwards through the steps; gate
// gradients are collected per (t, b) and the weight gradients are GEMMs over all time steps.
#include "rnnx/rnn.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "../cpu/dispatch.h"
#include "rnnx/thread_pool.h"

namespace rnnx {

// One weight matrix packed for the kernel table: always in the working type, and also in bf16 or
// int8 when the inference precision asks for it.
template <typename T>
struct PackedMat {
  Buffer<T> f;
  Buffer<uint16_t> b16;
  Buffer<int8_t> q;
  Buffer<float> scale;
  int64_t bytes() const {
    return static_cast<int64_t>(f.capacity() * sizeof(T) + b16.capacity() * 2 + q.capacity() + scale.capacity() * 4);
  }
};

template <typename T>
struct Rnn<T>::Workspace {
  // forward (inference) buffers
  Buffer<T> x0, ybuf[2], xw, hh, pre, h, c, hout, hproj, rh, h2;
  // backward buffers
  Buffer<T> g[2], dpre, dhh, rhall, dh, dc, dstep, dhhstep, dhout, dhnew, dhprev, drh, hfull;
  // Weights packed for the kernel table in use (re-packed when the table or the weights change).
  struct Packed {
    PackedMat<T> ih, hh, hn, hr;  // W_ih; W_hh (GRU reset-before: its r,z rows); GRU reset-before n rows; W_hr
    PackedMat<T> ih_t, hh_t, hn_t, hr_t;  // the same as [K, N] operands of C = A * W (backward)
    // gate-interleaved W_hh, and W_ih for steps that compute their input product, for the fused step
    PackedMat<T> hh_i, ih_i;
    // W_hh holds no inf or NaN: a zero state times it is exactly zero, so a step from a zero initial
    // state may skip its recurrent product (inf * 0 is NaN, which the product must then produce)
    bool hh_finite = true;
    // LSTM and RNN: b_ih + b_hh, the fused step's one bias vector (summed once per weights
    // version: summed per call it cost C1's stream step 0.7 us of its 10)
    Buffer<T> bsum;
  };
  std::vector<Packed> packed;
  // fused step: each team member's share of the hidden-unit blocks, adapted to their measured speed
  std::vector<double> share;
  std::vector<int64_t> qb;   // per call: the members' boundaries, in (block, row) pairs
  std::vector<int32_t> lens;  // per call: every row's length
  std::vector<double> busy;  // per call: each member's timed step seconds
  // fused step: measured time per step in two modes, per (batch, single step, kind): the team
  // against one thread, the team against the pipe, or the pipe against one thread (`team` and
  // `solo` below hold the first and the second). A team that waits on a member the OS has
  // descheduled (a busy machine) is many times slower than one thread, on some shapes two cores
  // never pay for the handoff, and a pipe cannot pay for waking a thread on a short call; calls
  // follow the faster mode and retry the other now and then.
  struct Tune {
    int64_t B = -1;
    bool x = false;
    // the two modes compared: 0 team (A) or one thread (B); 1 team or not (B: the pipe or one
    // thread, as that shape's kind-2 entry chooses); 2 pipe or one thread
    int kind = 0;
    // the last 8 times per step (seconds) of each mode; decisions compare their medians: a few
    // calls the OS interrupted do not count against a mode, a mode that is fast only now and then
    // (a team across cores whose handoff latency varies) is not judged by its luckiest call, and a
    // team that stalls on every call (a member keeps losing its core) loses the choice within 5
    double team[8] = {}, solo[8] = {};
    int n_team = 0, n_solo = 0;
    uint64_t calls = 0;
    uint64_t retry = 16;  // calls between retries of the slower mode (doubles while it stays slower)
    int burst = 0;        // team calls still to come in a retry (three calls: the first wakes the pool, uncounted)
    bool retrying = false;
    bool cold = false;    // this call is not measured (the very first, or the first of a team burst)
    static double typical(const double* v, int n) {  // the (lower) median of the last 8
      double t[8];
      const int m = std::min(n, 8);
      std::copy(v, v + m, t);
      std::nth_element(t, t + (m - 1) / 2, t + m);
      return t[(m - 1) / 2];
    }
    double margin() const { return kind == 1 ? 1.0 : 0.9; }

    // Whether this call runs in mode A (the team; with kind 2 the pipe), else B.
    bool choose() {
      ++calls;
      cold = calls == 1;
      if (burst > 0) {
        --burst;
        return true;
      }
      // the first call warms the caches and wakes the pool (not measured); then the team is
      // measured eight times and one thread twice. Between the team and one thread, one thread
      // first: on a large step it is the slow mode (C3: 1.7 times slower a call), and measured
      // first its calls fall among the first few, where a caller that measures warms up, instead
      // of the tenth and eleventh.
      if (kind == 0 && n_solo < 2) return false;
      if (n_team < 8 || n_solo < 2) return n_team < 8;
      // one thread only when faster by more than a tenth (noise does not flip the choice; a
      // stalled team is many times slower); between team and pipe (two threads either way), the faster
      const bool team_faster = margin() * typical(team, n_team) <= typical(solo, n_solo);
      const bool use_team = calls % retry == 0 ? !team_faster : team_faster;
      if (use_team && !team_faster) {
        // a team retried after a run of single-thread calls finds the pool's threads asleep: it
        // runs three calls, and the first does not count
        cold = true;
        burst = 2;
        retrying = true;
      }
      return use_team;
    }

    // Records the time per step of a call that ran on the team (or not).
    void record(bool on_team, double per_step) {
      if (cold) return;
      double* ring = on_team ? team : solo;
      int& n = on_team ? n_team : n_solo;
      ring[n % 8] = per_step;
      ++n;
      // the end of a retry (one single-thread call, or the last call of a team burst): if its mode
      // is clearly slower again, the next retry waits twice as long
      if (n_team >= 8 && n_solo >= 2 && (on_team ? retrying && burst == 0 : calls % retry == 0)) {
        const double other = on_team ? typical(solo, n_solo) : typical(team, n_team);
        const bool slower = on_team ? margin() * per_step > other : per_step > margin() * other;
        retry = slower ? std::min<uint64_t>(retry * 2, 1024) : 16;
        retrying = false;
      }
    }
  };
  std::vector<Tune> tune;
  uint64_t calls = 0;  // forward calls (the fused step's sweep direction alternates between them)
  // pipelined input projection (fused step, batch 1): chunk c of this call is done when
  // pipe_done[c] == pipe_gen (a new generation per region: nothing to clear)
  std::unique_ptr<std::atomic<uint64_t>[]> pipe_done;
  int64_t pipe_cap = 0;
  uint64_t pipe_gen = 0;
  const void* packed_table = nullptr;
  uint64_t packed_version = 0;
  Precision packed_precision = Precision::kFloat32;
  const void* packed_bwd_table = nullptr;
  uint64_t packed_bwd_version = 0;
  // backward scratch: packed activations for the weight gradients, partial bias sums
  Buffer<T> actp, db;

  int64_t bytes() const {
    int64_t n = 0;
    for (const Buffer<T>* b : {&x0, &ybuf[0], &ybuf[1], &xw, &hh, &pre, &h, &c, &hout, &hproj, &rh, &h2, &g[0], &g[1],
                               &dpre, &dhh, &rhall, &dh, &dc, &dstep, &dhhstep, &dhout, &dhnew, &dhprev, &drh,
                               &hfull})
      n += static_cast<int64_t>(b->capacity() * sizeof(T));
    for (const Packed& p : packed)
      n += p.ih.bytes() + p.hh.bytes() + p.hn.bytes() + p.hr.bytes() + p.ih_t.bytes() + p.hh_t.bytes() + p.hn_t.bytes() +
           p.hr_t.bytes() + p.hh_i.bytes() + p.ih_i.bytes() + static_cast<int64_t>(p.bsum.capacity() * sizeof(T));
    n += static_cast<int64_t>((actp.capacity() + db.capacity()) * sizeof(T));
    return n;
  }
};

namespace {

template <typename T>
cpu::CellParams<T> cell_params(const RnnConfig& c) {
  cpu::CellParams<T> p{c.f.kind,     c.g.kind,    c.h.kind,     T(c.f.alpha), T(c.f.beta), T(c.g.alpha),
                       T(c.g.beta),  T(c.h.alpha), T(c.h.beta), T(c.clip)};
  p.input_forget = c.input_forget;
  return p;
}

template <typename T>
void zero(Buffer<T>& b, int64_t n) {
  ensure_size(b, n);
  std::fill(b.begin(), b.begin() + n, T(0));
}

// A per-step buffer of n values whose rows of running steps are all written by the caller: only when
// some rows are padding (never written) do they need zeros.
template <typename T>
void size_rows(Buffer<T>& b, int64_t n, bool padded) {
  if (padded)
    zero(b, n);
  else
    ensure_size(b, n);
}

// [A, B, F] -> [B, A, F]
template <typename T>
void transpose01(const T* src, T* dst, int64_t A, int64_t B, int64_t F) {
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b) std::memcpy(dst + (b * A + a) * F, src + (a * B + b) * F, sizeof(T) * F);
}

// Products large enough to be worth splitting over the pool (about 100k multiply-adds: a parallel
// region costs a few microseconds).
constexpr int64_t kParallelWork = 100000;

bool worth_parallel(int64_t M, int64_t N, int64_t K) {
  // in double: the product of three dimensions can exceed int64 for absurd (but validated) shapes
  return ThreadPool::global().threads() > 1 &&
         static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) >= static_cast<double>(kParallelWork);
}

template <typename T>
void gemm_p(const cpu::KernelTable<T>& K, Precision prec, int64_t M, int64_t N, int64_t Kd, const T* A, int64_t lda,
            const T* Pf, const PackedMat<T>& P, T* C, int64_t ldc, bool acc);

// C[M,N] (+)= A[M,K] * W^T with W packed (in precision `prec`); split over rows (large M) or panels.
template <typename T>
void gemm_w(const cpu::KernelTable<T>& K, Precision prec, int64_t M, int64_t N, int64_t Kd, const T* A, int64_t lda,
            const PackedMat<T>& P, T* C, int64_t ldc, bool acc = false) {
  gemm_p(K, prec, M, N, Kd, A, lda, P.f.data(), P, C, ldc, acc);
}

// Panels [p0, p1) of C[M,N] (+)= A[M,K] * W^T in the precision asked for (reduced precision only for
// float tables and only for weights packed that way).
template <typename T>
void run_panels(const cpu::KernelTable<T>& K, Precision prec, int64_t M, int64_t N, int64_t Kd, const T* A, int64_t lda,
                const T* Pf, const PackedMat<T>& P, T* C, int64_t ldc, bool acc, int64_t p0, int64_t p1) {
  if constexpr (std::is_same_v<T, float>) {
    if (prec == Precision::kBf16) return K.gemm_nt_bf16(M, N, Kd, A, lda, P.b16.data(), C, ldc, acc, p0, p1);
    if (prec == Precision::kInt8) return K.gemm_nt_i8(M, N, Kd, A, lda, P.q.data(), P.scale.data(), C, ldc, acc, p0, p1);
  }
  K.gemm_nt_packed(M, N, Kd, A, lda, Pf, C, ldc, acc, p0, p1);
}

// The same with the float panels given directly (for operands packed per call).
template <typename T>
void gemm_p(const cpu::KernelTable<T>& K, Precision prec, int64_t M, int64_t N, int64_t Kd, const T* A, int64_t lda,
            const T* Pf, const PackedMat<T>& P, T* C, int64_t ldc, bool acc) {
  const int64_t panels = (N + K.nr - 1) / K.nr;
  if (!worth_parallel(M, N, Kd)) return run_panels(K, prec, M, N, Kd, A, lda, Pf, P, C, ldc, acc, 0, panels);
  ThreadPool& pool = ThreadPool::global();
  if (M >= 64 * pool.threads()) {
    pool.parallel_for(M, 16, [&](int64_t b, int64_t e) {
      run_panels(K, prec, e - b, N, Kd, A + b * lda, lda, Pf, P, C + b * ldc, ldc, acc, 0, panels);
    });
  } else {
    const int64_t grain = std::max<int64_t>(1, 16 / K.nr);
    pool.parallel_for(panels, grain, [&](int64_t b, int64_t e) { run_panels(K, prec, M, N, Kd, A, lda, Pf, P, C, ldc, acc, b, e); });
  }
}

// C1 = A1 * W1^T and C2 = A2 * W2^T, both [M, N] with ldc = N, in ONE parallel region over column
// panels: a single time step (a stream step) needs its input projection and its recurrent product
// at once, and each region costs a handoff between threads.
template <typename T>
void gemm_w2(const cpu::KernelTable<T>& K, Precision prec, int64_t M, int64_t N, const T* A1, int64_t K1,
             const PackedMat<T>& P1, T* C1, const T* A2, int64_t K2, const PackedMat<T>& P2, T* C2) {
  ThreadPool& pool = ThreadPool::global();
  if (!worth_parallel(M, N, K1 + K2) || M >= 64 * pool.threads()) {
    gemm_w(K, prec, M, N, K1, A1, K1, P1, C1, N);
    gemm_w(K, prec, M, N, K2, A2, K2, P2, C2, N);
    return;
  }
  const int64_t panels = (N + K.nr - 1) / K.nr;
  const int64_t grain = std::max<int64_t>(1, 16 / K.nr);
  pool.parallel_for(panels, grain, [&](int64_t b, int64_t e) {
    run_panels(K, prec, M, N, K1, A1, K1, P1.f.data(), P1, C1, N, false, b, e);
    run_panels(K, prec, M, N, K2, A2, K2, P2.f.data(), P2, C2, N, false, b, e);
  });
}

// f(i0, i1) over [0, n) in pieces of `piece` elements, the pieces over the pool when there are two
// or more: work on a large fresh output, whose page faults (a microsecond each on this VM, and the
// kernel zeroes every new page) then split between the threads.
template <typename F>
void over_pieces(int64_t n, int64_t piece, F&& f) {
  auto run = [&](int64_t c0, int64_t c1) { f(c0 * piece, std::min(n, c1 * piece)); };
  const int64_t pieces = (n + piece - 1) / piece;
  if (pieces >= 2 && ThreadPool::global().threads() > 1)
    ThreadPool::global().parallel_for(pieces, 1, run);
  else
    run(0, pieces);
}

// Writes one zero per page of a fresh output buffer (the caller's y is often memory the OS has not
// mapped yet): the first-touch faults then happen here, once, instead of inside the step loop where
// one member's fault stalls every member at the next barrier. The values are overwritten anyway.
// A large buffer (C3's y is 13 MB) would fault in 4 KiB at a time, thousands of faults per call (a
// tenth of C3's time in Node, whose every call returns a fresh array): its 2 MiB-aligned interior is
// first offered transparent huge pages, where the system grants them on request.
template <typename T>
void touch_pages(T* p, int64_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  if (static_cast<uint64_t>(n) * sizeof(T) >= 2 * kHuge) {
    const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t e = reinterpret_cast<uintptr_t>(p + n) & ~(kHuge - 1);
    if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);  // (advice: a refusal changes nothing)
  }
#endif
  constexpr int64_t kStep = 4096 / sizeof(T);
  over_pieces(n, (int64_t(2) << 20) / sizeof(T), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i += kStep) reinterpret_cast<volatile T*>(p)[i] = T(0);
  });
}

// dst = src, or zeros when src is null, over n elements (in 512 KiB pieces over the pool).
template <typename T>
void par_copy(T* dst, const T* src, int64_t n) {
  over_pieces(n, (int64_t(512) << 10) / sizeof(T), [&](int64_t i0, int64_t i1) {
    if (src)
      std::memcpy(dst + i0, src + i0, sizeof(T) * static_cast<size_t>(i1 - i0));
    else
      std::fill(dst + i0, dst + i1, T(0));
  });
}

// Whether the fused step kernel (cpu::StepArgs) covers this configuration: float32 tables that have
// it, the standard activations, no clip, peepholes, coupled gates or projection, and for the GRU the
// reset applied after the recurrent product. Everything else runs the general per-step path.
template <typename T>
bool fused_step_ok(const RnnConfig& c, const cpu::KernelTable<T>& K) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    // RNNX_FUSED_STEP=0 turns the fused step off (for A/B measurements and equivalence tests)
    static const bool enabled = [] {
      const char* e = std::getenv("RNNX_FUSED_STEP");
      return !(e && e[0] == '0' && e[1] == '\0');
    }();
    if (!enabled || !K.rnn_step || c.proj_size > 0 || c.clip != 0 || c.peepholes || c.input_forget) return false;
    switch (c.cell) {
      case CellType::kLstm:
        return c.f.kind == Activation::kSigmoid && c.g.kind == Activation::kTanh && c.h.kind == Activation::kTanh;
      case CellType::kGru:
        return c.linear_before_reset && c.f.kind == Activation::kSigmoid && c.g.kind == Activation::kTanh;
      case CellType::kRnn:
        return c.f.kind == Activation::kTanh || c.f.kind == Activation::kRelu;
    }
    return false;
  }
}

// W [gates*H, Kd] gate-interleaved for the fused step (and in bf16 when that is the precision).
template <typename T>
void ipack_mat(const cpu::KernelTable<T>& K, Precision prec, PackedMat<T>& dst, int gates, int64_t H, int64_t Kd, const T* W) {
  if constexpr (std::is_same_v<T, float>) {
    const int64_t n = K.ipacked_size(gates, H, Kd);
    dst.f.resize(static_cast<size_t>(n));
    K.ipack(gates, H, Kd, W, Kd, dst.f.data());
    Buffer<uint16_t>().swap(dst.b16);
    if (prec == Precision::kBf16) {
      dst.b16.resize(static_cast<size_t>(K.ipacked_size_bf16(gates, H, Kd)));
      K.ipack_bf16(gates, H, Kd, W, Kd, dst.b16.data());
    }
  }
}

// A step splits over the pool when it has at least this many multiply-adds (a barrier between two
// cores costs a fraction of a microsecond; below this a single core is faster).
constexpr double kStepParallelWork = 32768;

// Batch 1 over at least this many steps may compute its input projection on a second thread, in
// chunks of kPipeChunk steps, while the steps run (see the fused step in forward).
constexpr int64_t kPipeMinSteps = 64;
constexpr int64_t kPipeChunk = 16;

// Batch 1's long-sequence mode when not chosen by the tuner (0 team, 1 pipe, 2 one thread):
// testing::force_step_mode, else RNNX_STEP_MODE=team|pipe|single (for comparisons); -1 lets the
// tuner choose.
std::atomic<int> g_forced_step_mode{-1};  // testing::force_step_mode

int forced_step_mode() {
  const int m = g_forced_step_mode.load(std::memory_order_relaxed);
  if (m >= 0) return m;
  static const int from_env = [] {
    const char* e = std::getenv("RNNX_STEP_MODE");
    const std::string v = e ? e : "";
    return v == "team" ? 0 : v == "pipe" ? 1 : v == "single" ? 2 : -1;
  }();
  return from_env;
}

// How a team splits the fused step at batch > 1: by hidden-unit blocks (each member streams its
// slice of the weights, and the members exchange h at a barrier every step) or by batch rows (each
// member streams all the weights for its own rows and never waits for the others). Rows win once a
// member has kRowSplitMinRows of them (the kernel's register blocks are full) and the weights are
// small enough that streaming them twice costs less than the exchange: C3 (batch 64, 512 wide) on
// this machine, RNN (2 MiB of weights) 7 % faster, GRU (6 MiB) even, LSTM (8 MiB) 3 % slower; C4's
// forward (LSTM 256, 2 MiB, batch 32) 3 % faster.
constexpr int64_t kRowSplitMinRows = 16;
constexpr double kRowSplitMaxBytes = 4.0 * (1 << 20);
std::atomic<int> g_forced_step_split{-1};  // testing::force_step_split
std::atomic<bool> g_skip_zero_state{true};  // testing::skip_zero_state

bool split_rows(int64_t B, int members, double weight_bytes) {
  int forced = g_forced_step_split.load(std::memory_order_relaxed);
  if (forced < 0) {
    static const int from_env = [] {  // RNNX_STEP_SPLIT=units|rows (for comparisons)
      const char* e = std::getenv("RNNX_STEP_SPLIT");
      const std::string v = e ? e : "";
      return v == "units" ? 0 : v == "rows" ? 1 : -1;
    }();
    forced = from_env;
  }
  if (forced >= 0) return forced == 1 && B >= members;
  return B >= kRowSplitMinRows * members && weight_bytes <= kRowSplitMaxBytes;
}

// From this batch size on, a sequence's fused step also computes its input product (x * W_ih in
// the same register blocks as h * W_hh) instead of reading an input projection computed before the
// loop: that projection (T*B rows of G*H) goes out to memory and comes back a step at a time, which
// cost C3 (batch 64) 6-10 % on this machine. At batch 1-2 the step streams its weights once per
// row, and W_ih on top of W_hh would lengthen the serial chain; the projection is better done apart.
constexpr int64_t kFuseInputMinBatch = 4;

// Runs f(b) for every batch row, over the pool when the rows carry enough work (cell updates of
// large batches); rows are independent.
template <typename F>
void for_rows(int64_t B, int64_t work_per_row, F&& f) {
  ThreadPool& pool = ThreadPool::global();
  if (pool.threads() > 1 && B >= 2 && static_cast<double>(B) * static_cast<double>(work_per_row) >= 16384.0) {
    pool.parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) f(b);
    });
  } else {
    for (int64_t b = 0; b < B; ++b) f(b);
  }
}

// Wraps a computation so that allocation failures surface as rnnx::Error.
template <typename F>
void guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const std::bad_alloc&) {
    throw Error(Code::kOutOfMemory, std::string(what) + ": out of memory");
  } catch (const std::length_error&) {
    throw Error(Code::kOutOfMemory, std::string(what) + ": buffer size too large");
  }
}

}  // namespace

template <typename T>
Rnn<T>::Rnn(const RnnConfig& cfg, const T* weights, int64_t count) : cfg_(cfg) {
  params_ = param_specs(cfg_);  // validates
  const int64_t total = params_.empty() ? 0 : params_.back().offset + params_.back().size;
  if (count != total)
    throw Error(Code::kShapeMismatch, "weights: expected " + std::to_string(total) + " values for this config but received " +
                                          std::to_string(count));
  if (weights == nullptr && total > 0) throw Error(Code::kInvalidArgument, "weights: null pointer");
  guarded("Rnn", [&] {
    offsets_.assign(static_cast<size_t>(cfg_.num_layers * cfg_.dirs() * kParamKinds), -1);
    for (const ParamSpec& p : params_)
      offsets_[(static_cast<size_t>(p.layer) * cfg_.dirs() + p.dir) * kParamKinds + static_cast<int>(p.kind)] = p.offset;
    w_.assign(weights, weights + total);
    ws_ = std::make_unique<Workspace>();
  });
}

template <typename T>
Rnn<T>::~Rnn() = default;

template <typename T>
void Rnn<T>::set_weights(const T* weights, int64_t count) {
  if (count != param_count())
    throw Error(Code::kShapeMismatch, "weights: expected " + std::to_string(param_count()) + " values but received " +
                                          std::to_string(count));
  if (weights == nullptr && count > 0) throw Error(Code::kInvalidArgument, "weights: null pointer");
  std::copy(weights, weights + count, w_.begin());
  ++version_;
}

template <typename T>
void Rnn<T>::set_precision(Precision p) {
  const int v = static_cast<int>(p);
  if (v < 0 || v > 2) throw Error(Code::kInvalidArgument, "precision: expected float32, bf16 or int8");
  if (!std::is_same_v<T, float> && p != Precision::kFloat32)
    throw Error(Code::kInvalidArgument, "precision: bf16 and int8 weights need a float32 model");
  precision_ = p;
}

template <typename T>
int64_t Rnn<T>::native_bytes() const {
  return static_cast<int64_t>(w_.capacity() * sizeof(T)) + (ws_ ? ws_->bytes() : 0);
}

template <typename T>
void Rnn<T>::check_call(int64_t seq_len, int64_t batch, const int32_t* lengths) const {
  if (seq_len < 1 || seq_len > (int64_t(1) << 31) - 1)
    throw Error(Code::kShapeMismatch, "x: expected a sequence length of at least 1 but received " + std::to_string(seq_len));
  if (batch < 1 || batch > (int64_t(1) << 31) - 1)
    throw Error(Code::kShapeMismatch, "x: expected a batch size of at least 1 but received " + std::to_string(batch));
  const int64_t G = cfg_.gates();
  const int64_t widest = std::max({cfg_.input_size, cfg_.output_size(), G * cfg_.hidden_size + cfg_.hidden_size});
  checked_mul({seq_len, batch, widest}, "forward: activations");
  if (lengths) {
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t L = lengths[b];
      if (L < 1 || L > seq_len)
        throw Error(Code::kInvalidArgument, "lengths[" + std::to_string(b) + "]: expected an integer in 1.." +
                                                std::to_string(seq_len) + " but received " + std::to_string(L));
    }
  }
}

template <typename T>
void Rnn<T>::ensure_packed(const void* table, bool backward) {
  const cpu::KernelTable<T>& K = *static_cast<const cpu::KernelTable<T>*>(table);
  Workspace& ws = *ws_;
  const int64_t L = cfg_.num_layers, D = cfg_.dirs(), H = cfg_.hidden_size, R = cfg_.state_size(), P = cfg_.proj_size;
  const int64_t GH = cfg_.gates() * H;
  const CellType cell = cfg_.cell;
  const bool lbr = cfg_.linear_before_reset;
  ws.packed.resize(static_cast<size_t>(L * D));
  if (ws.packed_table != table || ws.packed_version != version_ || ws.packed_precision != precision_) {
    const bool fused = fused_step_ok(cfg_, K);
    auto ipack = [&](PackedMat<T>& dst, int gates, int64_t Kd, const T* W) { ipack_mat(K, precision_, dst, gates, H, Kd, W); };
    auto pack = [&](PackedMat<T>& dst, int64_t N, int64_t Kd, const T* W) {
      const int64_t n = K.packed_size(N, Kd);
      dst.f.resize(static_cast<size_t>(n));
      K.pack_nt(N, Kd, W, Kd, dst.f.data());
      Buffer<uint16_t>().swap(dst.b16);
      Buffer<int8_t>().swap(dst.q);
      Buffer<float>().swap(dst.scale);
      if constexpr (std::is_same_v<T, float>) {
        if (precision_ == Precision::kBf16) {
          dst.b16.resize(static_cast<size_t>(n));
          K.pack_nt_bf16(N, Kd, W, Kd, dst.b16.data());
        } else if (precision_ == Precision::kInt8) {
          dst.q.resize(static_cast<size_t>(n));
          dst.scale.resize(static_cast<size_t>(((N + K.nr - 1) / K.nr) * K.nr));
          K.pack_nt_i8(N, Kd, W, Kd, dst.q.data(), dst.scale.data());
        }
      }
    };
    for (int64_t l = 0; l < L; ++l)
      for (int64_t d = 0; d < D; ++d) {
        auto& pk = ws.packed[l * D + d];
        pack(pk.ih, GH, cfg_.layer_input_size(l), param(l, d, ParamKind::kWeightIh));
        const T* Whh = param(l, d, ParamKind::kWeightHh);
        pk.hh_finite = std::all_of(Whh, Whh + GH * R, [](T v) { return std::isfinite(v); });
        if (fused && cell != CellType::kGru) {
          const T* bih = param(l, d, ParamKind::kBiasIh);
          const T* bhh = param(l, d, ParamKind::kBiasHh);
          pk.bsum.resize(static_cast<size_t>(GH));
          for (int64_t k = 0; k < GH; ++k) pk.bsum[k] = (bih ? bih[k] : T(0)) + (bhh ? bhh[k] : T(0));
        }
        // the interleaved W_ih is packed on first use (a forward whose steps compute their input product)
        pk.ih_i = PackedMat<T>();
        if (fused) ipack(pk.hh_i, cfg_.gates(), H, Whh);
        if (cell == CellType::kGru && !lbr) {
          pack(pk.hn, H, H, Whh + 2 * H * H);
          pack(pk.hh, 2 * H, H, Whh);
        } else if (!fused || precision_ == Precision::kInt8) {
          pack(pk.hh, GH, R, Whh);
        } else {
          pk.hh = PackedMat<T>();
        }
        if (P > 0) pack(pk.hr, P, H, param(l, d, ParamKind::kWeightHr));
      }
    ws.packed_table = table;
    ws.packed_version = version_;
    ws.packed_precision = precision_;
  }
  if (backward && (ws.packed_bwd_table != table || ws.packed_bwd_version != version_)) {
    // W as the [K, N] operand of C = A * W: C = dGates * W_ih gives dX, dGates * W_hh gives dh, ...
    auto pack_t = [&](PackedMat<T>& dst, int64_t N, int64_t Kd, const T* W, int64_t ldw) {
      dst.f.resize(static_cast<size_t>(K.packed_size(N, Kd)));
      K.pack_kn(N, Kd, W, ldw, dst.f.data());
    };
    for (int64_t l = 0; l < L; ++l)
      for (int64_t d = 0; d < D; ++d) {
        auto& pk = ws.packed[l * D + d];
        const int64_t in = cfg_.layer_input_size(l);
        pack_t(pk.ih_t, in, GH, param(l, d, ParamKind::kWeightIh), in);
        const T* Whh = param(l, d, ParamKind::kWeightHh);
        if (cell == CellType::kGru && !lbr) {
          pack_t(pk.hh_t, H, 2 * H, Whh, H);
          pack_t(pk.hn_t, H, H, Whh + 2 * H * H, H);
        } else {
          pack_t(pk.hh_t, R, GH, Whh, R);
        }
        if (P > 0) pack_t(pk.hr_t, H, P, param(l, d, ParamKind::kWeightHr), H);
      }
    ws.packed_bwd_table = table;
    ws.packed_bwd_version = version_;
  }
}

template <typename T>
void Rnn<T>::forward(const ForwardArgs<T>& a, Tape<T>* tape) {
  check_call(a.seq_len, a.batch, a.lengths);
  if (!a.x) throw Error(Code::kInvalidArgument, "forward: x is required");
  if (!a.y && tape) throw Error(Code::kInvalidArgument, "forward: y is required with a tape");
  guarded("forward", [&] {
    const cpu::KernelTable<T>& K = cpu::kernels<T>();
    cpu::CellParams<T> cp = cell_params<T>(cfg_);
    Workspace& ws = *ws_;
    const int64_t TT = a.seq_len, B = a.batch, L = cfg_.num_layers, D = cfg_.dirs();
    const int64_t H = cfg_.hidden_size, R = cfg_.state_size(), P = cfg_.proj_size, G = cfg_.gates();
    const int64_t GH = G * H, S = cfg_.cell == CellType::kGru ? 4 * H : GH, OUT = cfg_.output_size();
    const int64_t I = cfg_.input_size;
    const CellType cell = cfg_.cell;
    const bool lbr = cfg_.linear_before_reset;

    ensure_packed(&K, false);
    // reduced precision serves inference only; a recorded (training) pass uses float32 weights
    const Precision prec = tape ? Precision::kFloat32 : precision_;
    const bool fused_step = fused_step_ok(cfg_, K);
    ++ws.calls;

    std::vector<int32_t>& lens = ws.lens;  // (workspace: no allocation per call)
    lens.assign(static_cast<size_t>(B), static_cast<int32_t>(TT));
    if (a.lengths) std::copy(a.lengths, a.lengths + B, lens.begin());
    const int64_t max_len = *std::max_element(lens.begin(), lens.end());
    // Every row t < lengths[b] of every per-step buffer is written below; only padded rows (when
    // there are any) need zeros first.
    const bool padded = std::any_of(lens.begin(), lens.end(), [&](int32_t n) { return n < TT; });
    auto clear = [&](Buffer<T>& b, int64_t n) { size_rows(b, n, padded); };

    if (tape) {
      tape->valid = false;
      tape->seq_len = TT;
      tape->batch = B;
      tape->max_len = max_len;
      tape->lengths = lens;
      tape->layer_out.resize(static_cast<size_t>(L));
      tape->dirs.resize(static_cast<size_t>(L * D));
    }

    // Layer-0 input, time-major. A tape keeps its own copy with padded steps zeroed, so the weight
    // gradient GEMMs over all T*B rows never touch the caller's padding (which may hold anything).
    const T* xin = a.x;
    if (cfg_.batch_first || tape) {
      Buffer<T>& x0 = tape ? tape->x0 : ws.x0;
      ensure_size(x0, TT * B * I);
      if (cfg_.batch_first)
        transpose01(a.x, x0.data(), B, TT, I);
      else
        std::memcpy(x0.data(), a.x, sizeof(T) * TT * B * I);
      if (tape)
        for (int64_t b = 0; b < B; ++b)
          for (int64_t t = lens[b]; t < TT; ++t) std::fill_n(x0.data() + (t * B + b) * I, I, T(0));
      xin = x0.data();
    }

    ensure_size(ws.hh, B * GH);
    ensure_size(ws.pre, B * S);
    ensure_size(ws.h, B * R);
    ensure_size(ws.c, B * H);
    ensure_size(ws.hout, B * H);
    ensure_size(ws.hproj, B * std::max<int64_t>(P, 1));
    ensure_size(ws.rh, B * H);
    // Whether a direction's fused step computes its input product itself (kFuseInputMinBatch). In
    // the reverse direction every row must then be at the same time step (no padding): its input
    // rows are the step's rows of x.
    const bool fused_any = fused_step && (tape || precision_ != Precision::kInt8);
    auto fuse_input = [&](int64_t d) { return fused_any && (TT == 1 || (B >= kFuseInputMinBatch && (d == 0 || !padded))); };
    bool need_xw = false;
    for (int64_t d = 0; d < D; ++d) need_xw = need_xw || !fuse_input(d);
    ensure_size(ws.xw, need_xw ? TT * B * GH : 0);

    for (int64_t l = 0; l < L; ++l) {
      const int64_t in = cfg_.layer_input_size(l);
      // The top layer of a time-major inference call writes straight into the caller's y. Every row
      // t < lengths[b] is written below; only padded rows need zeroing.
      // No y: the top layer writes no per-step output at all (ylp stays null; the caller wants the
      // final state).
      const bool direct = l == L - 1 && (!a.y || (!tape && !cfg_.batch_first));
      T* ylp = direct ? a.y : nullptr;
      if (!direct) {
        Buffer<T>& yb = tape ? tape->layer_out[l] : ws.ybuf[l % 2];
        ensure_size(yb, TT * B * OUT);
        ylp = yb.data();
      }
      if (ylp && padded)
        std::fill_n(ylp, TT * B * OUT, T(0));
      else if (ylp && direct)
        touch_pages(ylp, TT * B * OUT);
      for (int64_t d = 0; d < D; ++d) {
        const int64_t idx = l * D + d;
        const typename Workspace::Packed& pk = ws.packed[idx];
        cp.peep = param(l, d, ParamKind::kPeephole);
        const T* bih = param(l, d, ParamKind::kBiasIh);
        const T* bhh = param(l, d, ParamKind::kBiasHh);
        T* xw = ws.xw.data();
        T* hh = ws.hh.data();
        T* h = ws.h.data();
        T* c = ws.c.data();

        // initial state
        if (a.h0)
          std::memcpy(h, a.h0 + idx * B * R, sizeof(T) * B * R);
        else
          std::fill_n(h, B * R, T(0));
        if (cell == CellType::kLstm) {
          if (a.c0)
            std::memcpy(c, a.c0 + idx * B * H, sizeof(T) * B * H);
          else
            std::fill_n(c, B * H, T(0));
        }

        typename Tape<T>::Dir* td = tape ? &tape->dirs[idx] : nullptr;
        if (td) {
          clear(td->pre, TT * B * S);
          clear(td->hprev, TT * B * R);
          if (cell == CellType::kLstm) {
            clear(td->cprev, TT * B * H);
            clear(td->c, TT * B * H);
          }
        }

        const bool fused = fused_step && prec != Precision::kInt8;
        const bool fused_x = fused && fuse_input(d);
        // A zero initial state (none given, or all zeros: a stream's first step) makes the first
        // step's recurrent product zero: skipped (the first of C2's 32 steps: 1-3 % of its time). Every
        // row's step 0 is its first step, in either direction, padded or not. (The scan stops at the
        // first nonzero value: about one compare for a carried state.)
        const T* h0p = a.h0 ? a.h0 + idx * B * R : nullptr;
        const bool zero_h0 = pk.hh_finite && g_skip_zero_state.load(std::memory_order_relaxed) &&
                             (!h0p || std::all_of(h0p, h0p + B * R, [](T v) { return v == T(0); }));
        const bool fused_first = !fused && TT == 1 && !(cell == CellType::kGru && !lbr);

        // The fused step's threads, chosen before the input projection: a team of members that
        // meet at every step; or one thread for the steps, which at batch 1 over a long sequence
        // has a second thread compute the input projection ahead of it (pipe) instead of before.
        ThreadPool& pool = ThreadPool::global();
        const int64_t blocks = fused ? K.iblocks(static_cast<int>(G), H) : 0;  // of hidden units
        int want = 1;
        bool use_team = false, pipe = false, pipe_ok = false, chunked = false, mode_a = false;
        typename Workspace::Tune* tn = nullptr;
        typename Workspace::Tune* tn2 = nullptr;  // kind 1, not the team: the pipe against one thread
        if (fused) {
          const double work = static_cast<double>(B) * static_cast<double>(GH) * static_cast<double>(H + (fused_x ? in : 0));
          want = work >= kStepParallelWork ? static_cast<int>(std::min<int64_t>(pool.threads(), blocks)) : 1;
          chunked = !fused_x && B == 1 && max_len >= kPipeMinSteps;
          pipe_ok = chunked && pool.threads() >= 2;
          // the modes to choose from, measured by the tuner (Workspace::Tune::kind)
          const int kind = want > 1 ? (pipe_ok ? 1 : 0) : (pipe_ok ? 2 : -1);
          if (kind >= 0) {
            auto find = [&](int k) -> typename Workspace::Tune* {
              for (auto& e : ws.tune)
                if (e.B == B && e.x == fused_x && e.kind == k) return &e;
              return nullptr;
            };
            // Adds this shape's entry of kind k. A full table drops its oldest entry of another
            // shape (a shape has at most three), so adding one of this shape's entries never drops
            // the other.
            auto ensure = [&](int k) {
              if (find(k)) return;
              if (ws.tune.size() >= 16)
                ws.tune.erase(std::find_if(ws.tune.begin(), ws.tune.end(), [&](const typename Workspace::Tune& e) {
                  return e.B != B || e.x != fused_x;
                }));
              ws.tune.emplace_back();
              ws.tune.back().B = B;
              ws.tune.back().x = fused_x;
              ws.tune.back().kind = k;
            };
            const int forced = chunked ? forced_step_mode() : -1;
            if (forced >= 0) {
              use_team = forced == 0 && kind != 2;
              pipe = pipe_ok && forced == 1;
            } else {
              // (both entries before either pointer: adding one may move the other)
              ensure(kind);
              if (kind == 1) ensure(2);
              tn = find(kind);
              mode_a = tn->choose();
              use_team = mode_a && kind != 2;
              pipe = kind == 1 ? !mode_a : kind == 2 && mode_a;
              if (kind == 1 && !mode_a) {
                // Two threads in either mode can both lose to one: a second core that the OS keeps
                // taking away stalls the pipe's chunk handoff as it stalls the team's barrier. So
                // the pipe is also tried against one thread, as a pool of one thread would run (a
                // guard: not seen to matter on this machine so far).
                tn2 = find(2);
                pipe = tn2->choose();
              }
            }
          }
          if (!use_team) want = 1;
        }
        // the tuner times the whole call per step, projection included (the pipe hides it)
        const auto tune_t0 = std::chrono::steady_clock::now();

        // Where the pipe may run, the projection is computed in chunks of kPipeChunk steps whatever
        // the mode and the number of threads (a row's sums depend on how the product groups rows;
        // the same chunks give the same bits whichever mode the tuner picks, on any number of
        // threads): chunk c holds the rows of steps [c, c + 1) * kPipeChunk, counted from the end in
        // reverse.
        const int64_t len0 = lens[0];
        const int64_t nchunks = chunked ? (len0 + kPipeChunk - 1) / kPipeChunk : 0;
        if (ws.pipe_cap < nchunks) {  // (sized whichever mode runs first: no allocation when the tuner switches)
          ws.pipe_done.reset(new std::atomic<uint64_t>[static_cast<size_t>(nchunks)]);
          for (int64_t c = 0; c < nchunks; ++c) ws.pipe_done[c].store(0, std::memory_order_relaxed);
          ws.pipe_cap = nchunks;
        }
        // A long sequence's projection rows (computed in chunks, below) get the biases the fused
        // kernel would otherwise add at every step (StepArgs::xw_biased): here, where the rows are
        // computed (in the pipe, on the second thread), in the kernel's order, so the sums are the
        // same. Those loads and adds cost C5's step 2.5 % in a harness of the kernel alone. (A short
        // sequence's rows are computed before the steps on the caller's path: a pass over them there
        // cost C2 LSTM 5 %, more than the steps saved.)
        const T* bsum = fused && cell != CellType::kGru ? pk.bsum.data() : nullptr;
        auto bias_rows = [&](int64_t r0, int64_t r1) {
          for (int64_t row = r0; row < r1; ++row) {
            T* r = xw + row * GH;
            if (cell != CellType::kGru) {
              for (int64_t k = 0; k < GH; ++k) r[k] += bsum[k];
            } else {
              for (int64_t k = 0; k < 2 * H; ++k) {
                T x = r[k];
                if (bih) x += bih[k];
                r[k] = x + (bhh ? bhh[k] : T(0));
              }
              if (bih)
                for (int64_t k = 2 * H; k < GH; ++k) r[k] += bih[k];
            }
          }
        };
        auto proj_chunk = [&](int64_t c) {
          const int64_t a0 = c * kPipeChunk, a1 = std::min(len0, a0 + kPipeChunk);
          const int64_t r0 = d == 0 ? a0 : len0 - a1, r1 = d == 0 ? a1 : len0 - a0;
          run_panels(K, prec, r1 - r0, GH, in, xin + r0 * in, in, pk.ih.f.data(), pk.ih, xw + r0 * GH, GH, false, 0,
                     (GH + K.nr - 1) / K.nr);
          bias_rows(r0, r1);  // (chunks exist only for the fused step)
        };

        // 1. input projection for all steps at once (or, pipe, in chunks ahead of the steps). A
        //    single step, and every step from batch kFuseInputMinBatch on, does it together with its
        //    recurrent product in the fused kernel (fused_x); the general path's single step, in one
        //    parallel region.
        if (pipe) {
          // in the step loop's region, below
        } else if (chunked) {
          pool.parallel_for(nchunks, 1, [&](int64_t b, int64_t e) {
            for (int64_t c = b; c < e; ++c) proj_chunk(c);
          });
        } else if (fused_x) {
          if constexpr (std::is_same_v<T, float>) {
            auto& pkm = ws.packed[idx];
            if (pkm.ih_i.f.empty()) ipack_mat(K, precision_, pkm.ih_i, G, H, in, param(l, d, ParamKind::kWeightIh));
          }
        } else if (fused_first) {
          gemm_w2(K, prec, B, GH, xin, in, pk.ih, xw, h, R, pk.hh, hh);
        } else {
          gemm_w(K, prec, TT * B, GH, in, xin, in, pk.ih, xw, GH);
        }
        // The fused step adds the biases itself (no pass over xw): LSTM/RNN both as one vector
        // (Packed::bsum), GRU b_ih to the input terms and b_hh to the recurrent ones.
        if (!fused && (bih || bhh)) {
          for (int64_t row = 0; row < TT * B; ++row) {
            T* r = xw + row * GH;
            if (bih)
              for (int64_t k = 0; k < GH; ++k) r[k] += bih[k];
            if (bhh && cell != CellType::kGru)
              for (int64_t k = 0; k < GH; ++k) r[k] += bhh[k];
          }
        }

        if (fused) {
          // 2. every step in one region of the pool: each member owns a range of hidden-unit blocks
          //    (its slice of W_hh stays in its cache) and the members meet at a barrier per step.
          //    The state ping-pongs between two buffers: a step reads all of h and writes its units.
          if constexpr (std::is_same_v<T, float>) {
            ensure_size(ws.h2, B * H);
            T* hb[2] = {h, ws.h2.data()};
            const auto& pkm = ws.packed[idx];
            const bool b16 = prec == Precision::kBf16;
            cpu::StepArgs sa;
            sa.cell = cell;
            sa.relu = cfg_.f.kind == Activation::kRelu;
            sa.H = H;
            sa.B = B;
            sa.lengths = lens.data();
            sa.reverse = d == 1;
            sa.flip = static_cast<int64_t>(ws.calls & 1);
            sa.xw = fused_x ? nullptr : xw;
            sa.xw_biased = chunked;  // (bias_rows above)
            sa.bias = cell == CellType::kGru ? bhh : pk.bsum.data();
            sa.bias_x = cell == CellType::kGru ? bih : nullptr;
            if (fused_x) {
              sa.x = xin;
              sa.Kx = in;
              sa.Px = b16 ? static_cast<const void*>(pkm.ih_i.b16.data()) : pkm.ih_i.f.data();
            }
            sa.Ph = b16 ? static_cast<const void*>(pkm.hh_i.b16.data()) : pkm.hh_i.f.data();
            sa.bf16 = b16;
            sa.c = c;
            sa.y = ylp ? ylp + d * R : nullptr;
            sa.ldy = OUT;
            if (td) {
              sa.pre = td->pre.data();
              sa.hprev = td->hprev.data();
              if (cell == CellType::kLstm) {
                sa.cprev = td->cprev.data();
                sa.cst = td->c.data();
              }
            }
            // pipe: a second thread computes the projection's chunks in order; the step thread waits
            // for the one it needs, or computes it itself when nobody has claimed it yet (the
            // first, and every one when the second thread never gets a core).
            std::atomic<int64_t> pipe_next{0};
            const uint64_t gen = pipe ? ++ws.pipe_gen : 0;
            auto pipe_chunk = [&](int64_t c) {
              proj_chunk(c);
              ws.pipe_done[c].store(gen, std::memory_order_release);
            };
            auto pipe_need = [&](int64_t c) {
              if (ws.pipe_done[c].load(std::memory_order_acquire) == gen) return;
              int64_t expect = c;  // (claims go in order, so the next unclaimed chunk is c or later)
              if (pipe_next.compare_exchange_strong(expect, c + 1, std::memory_order_acq_rel)) return pipe_chunk(c);
              for (int i = 0; ws.pipe_done[c].load(std::memory_order_acquire) != gen; ++i) spin_wait_turn(i);
            };
            TeamBarrier barrier(want);
            // Blocks are split in proportion to each member's measured speed (cores of a shared or
            // virtual machine are often not equally fast, and every step waits for the slowest).
            std::vector<double>& share = ws.share;
            // (sized for a team of the whole pool whichever mode runs first: a later switch to the
            // team, which the tuner makes after measuring one thread, allocates nothing)
            const size_t most = static_cast<size_t>(std::max(pool.threads(), 1));
            share.reserve(most);
            ws.qb.reserve(most + 1);
            ws.busy.reserve(most);
            // (a single-thread call keeps the team's shares for the next team call)
            if (want > 1 ? static_cast<int>(share.size()) != want : share.empty())
              share.assign(static_cast<size_t>(want), 1.0 / want);
            // The work is blocks x B (block, row) pairs in block-major order; members get contiguous
            // ranges of them. With 8 rows or more the boundary may fall inside a block (its rows then
            // split between two members: a finer split than whole blocks, whose share of the work
            // can be too coarse to balance); with fewer, only between blocks. A large batch may split
            // by rows instead (row_split, see split_rows): members get contiguous ranges of rows, run
            // them through every block and never meet before the end (each row's sums are the same
            // either way).
            const double weight_bytes = static_cast<double>(GH) * static_cast<double>(R + (fused_x ? in : 0)) * (b16 ? 2.0 : 4.0);
            const bool row_split = want > 1 && split_rows(B, want, weight_bytes);
            const int64_t pairs = row_split ? B : blocks * B, gran = row_split ? 1 : B >= 8 ? 1 : B;
            std::vector<int64_t>& qb = ws.qb;  // workspace vectors: no allocation per call
            qb.assign(static_cast<size_t>(want) + 1, 0);
            {
              double cum = 0;
              for (int m = 0; m < want; ++m) {
                cum += share[static_cast<size_t>(m)];
                int64_t e = m == want - 1 ? pairs : static_cast<int64_t>(cum * static_cast<double>(pairs / gran) + 0.5) * gran;
                e = std::max(e, qb[static_cast<size_t>(m)] + gran);        // at least one block's worth each
                e = std::min(e, pairs - (want - 1 - m) * gran);            // leave one for each later member
                qb[static_cast<size_t>(m) + 1] = e;
              }
            }
            std::vector<double>& busy = ws.busy;
            busy.assign(static_cast<size_t>(want), 0.0);
            int used_team = 1;
            pool.run_team(pipe ? 2 : want, [&](int member, int members) {
              if (pipe && member > 0) {
                for (int64_t c; (c = pipe_next.fetch_add(1, std::memory_order_acq_rel)) < nchunks;) pipe_chunk(c);
                return;
              }
              const int team = pipe ? 1 : members;  // the members that share the steps
              const int64_t w0 = team == want ? qb[static_cast<size_t>(member)] : 0;
              const int64_t w1 = team == want ? qb[static_cast<size_t>(member) + 1] : pairs;
              // as up to three calls of the kernel: the rows of a first block shared with the previous
              // member, whole blocks, the rows of a last block shared with the next
              struct Piece {
                int64_t q0, q1, r0, r1;
              } pieces[3];
              int npieces = 0;
              if (row_split) {
                pieces[npieces++] = {0, blocks, w0, w1};
              } else {
                const int64_t qs = w0 / B, rs = w0 % B, qe = w1 / B, re = w1 % B;
                if (qs == qe) {
                  pieces[npieces++] = {qs, qs + 1, rs, re};
                } else {
                  if (rs > 0) pieces[npieces++] = {qs, qs + 1, rs, B};
                  if (qs + (rs > 0) < qe) pieces[npieces++] = {qs + (rs > 0), qe, 0, B};
                  if (re > 0) pieces[npieces++] = {qe, qe + 1, 0, re};
                }
              }
              const int64_t q0 = row_split ? 0 : w0 / B, q1 = row_split ? blocks : (w1 + B - 1) / B;
              if (member == 0) used_team = team;
              cpu::StepArgs st = sa;
              uint64_t reached = 0;
              double mine = 0;
              // this member's units (a small state is prefetched at each step, see below)
              const int64_t bu = static_cast<int64_t>(K.vector_width) * (cell == CellType::kRnn ? 2 : 1);
              const int64_t u0 = std::min(H, q0 * bu), u1 = std::min(H, q1 * bu);
              const bool prefetch_state = team > 1 && !row_split && B * H <= 4096;
              for (int64_t s = 0; s < max_len; ++s) {
                if (pipe && s % kPipeChunk == 0) pipe_need(s / kPipeChunk);
                st.s = s;
                if (fused_x) st.x = xin + (d == 0 ? s : len0 - 1 - s) * B * in;  // (reverse: unpadded)
                st.h = hb[s & 1];
                st.hnext = hb[(s + 1) & 1];
                st.h_zero = s == 0 && zero_h0;
                if (prefetch_state) {
                  // Just past the barrier, half of h sits in the other members' caches and the lines
                  // this member writes next are shared with them: ask for all of those lines at once,
                  // instead of one miss after another inside the product (the next h's with a write
                  // hint, which a baseline x86-64 build emits as a plain prefetch).
                  for (int64_t i = 0; i < B * H; i += 16) RNNX_PREFETCH(st.h + i);
                  for (int64_t b = 0; b < B; ++b)
                    for (int64_t u = u0; u < u1; u += 16) RNNX_PREFETCH_W(st.hnext + b * H + u);
                }
                // every 8th step is timed (a clock read costs about as much as a small step's barrier)
                const bool timed = team > 1 && (s & 7) == 0;
                std::chrono::steady_clock::time_point t0;
                // A single step is timed from the region's start: a worker's wake-up then counts
                // against its share, and the members finish together (the caller starts first).
                if (timed) t0 = max_len == 1 ? tune_t0 : std::chrono::steady_clock::now();
                const bool down = st.descending();  // (the kernel's sweep direction this step)
                for (int i = 0; i < npieces; ++i) {
                  const Piece& pc = pieces[down ? npieces - 1 - i : i];
                  st.row0 = pc.r0;
                  st.row1 = pc.r1;
                  K.rnn_step(st, pc.q0, pc.q1);
                }
                if (timed) mine += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                // (after the last step the pool's join is the meeting point; split by rows, a
                // member's next step reads only the rows it wrote)
                if (team > 1 && s + 1 < max_len && !row_split) barrier.wait(member, reached);
              }
              busy[static_cast<size_t>(member)] = mine;
            });
            if (tn) {
              const double per_step =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - tune_t0).count() / static_cast<double>(max_len);
              tn->record(mode_a, per_step);
              if (tn2) tn2->record(pipe, per_step);
            }
            if (used_team == want && want > 1) {
              // busy[m] becomes member m's speed ((block, row) pairs per timed second), then the new shares
              double total = 0;
              bool ok = true;
              for (int m = 0; m < want; ++m) {
                double& bm = busy[static_cast<size_t>(m)];
                ok = ok && bm > 0;
                bm = bm > 0 ? static_cast<double>(qb[static_cast<size_t>(m) + 1] - qb[static_cast<size_t>(m)]) / bm : 0;
                total += bm;
              }
              if (ok && total > 0)
                for (int m = 0; m < want; ++m)
                  share[static_cast<size_t>(m)] = 0.75 * share[static_cast<size_t>(m)] + 0.25 * busy[static_cast<size_t>(m)] / total;
            }
            if (max_len & 1) std::memcpy(h, ws.h2.data(), sizeof(T) * B * H);
          }
          if (a.hn) std::memcpy(a.hn + idx * B * R, h, sizeof(T) * B * R);
          if (a.cn && cell == CellType::kLstm) std::memcpy(a.cn + idx * B * H, c, sizeof(T) * B * H);
          continue;
        }

        auto t_of = [&](int64_t s, int64_t b) -> int64_t { return d == 0 ? s : lens[b] - 1 - s; };

        for (int64_t s = 0; s < max_len; ++s) {
          // 2a. recurrent term for every row (finished rows are computed and ignored)
          if (fused_first && s == 0) {
            // computed with the input projection above
          } else if (s == 0 && zero_h0) {
            std::fill_n(hh, B * GH, T(0));
          } else if (cell == CellType::kGru && !lbr) {
            gemm_w(K, prec, B, 2 * H, H, h, H, pk.hh, hh, GH);
          } else {
            gemm_w(K, prec, B, GH, R, h, R, pk.hh, hh, GH);
          }
          if (cell == CellType::kGru && bhh) {
            const int64_t nb = lbr ? GH : 2 * H;
            for (int64_t b = 0; b < B; ++b)
              for (int64_t k = 0; k < nb; ++k) hh[b * GH + k] += bhh[k];
          }
          // 2b. per running sequence
          if (td) {
            for (int64_t b = 0; b < B; ++b) {
              if (s >= lens[b]) continue;
              const int64_t row = t_of(s, b) * B + b;
              std::memcpy(td->hprev.data() + row * R, h + b * R, sizeof(T) * R);
              if (cell == CellType::kLstm) std::memcpy(td->cprev.data() + row * H, c + b * H, sizeof(T) * H);
            }
          }
          switch (cell) {
            case CellType::kLstm: {
              T* hout = P > 0 ? ws.hout.data() : h;
              for_rows(B, GH, [&](int64_t b) {
                if (s >= lens[b]) return;
                const int64_t row = t_of(s, b) * B + b;
                T* pre = td ? td->pre.data() + row * S : ws.pre.data() + b * S;
                const T* xr = xw + row * GH;
                const T* hr = hh + b * GH;
                for (int64_t k = 0; k < GH; ++k) pre[k] = xr[k] + hr[k];
                K.lstm_fwd(cp, H, pre, c + b * H, c + b * H, hout + b * H);
                if (td) std::memcpy(td->c.data() + row * H, c + b * H, sizeof(T) * H);
              });
              if (P > 0) {
                gemm_w(K, prec, B, P, H, hout, H, pk.hr, ws.hproj.data(), P);
                for (int64_t b = 0; b < B; ++b)
                  if (s < lens[b]) std::memcpy(h + b * P, ws.hproj.data() + b * P, sizeof(T) * P);
              }
              break;
            }
            case CellType::kGru: {
              if (!lbr) {
                T* rh = ws.rh.data();
                for (int64_t b = 0; b < B; ++b) {
                  if (s >= lens[b]) {
                    std::fill_n(rh + b * H, H, T(0));
                    continue;
                  }
                  const int64_t row = t_of(s, b) * B + b;
                  K.gru_reset(cp, H, xw + row * GH, hh + b * GH, h + b * H, rh + b * H);
                }
                gemm_w(K, prec, B, H, H, rh, H, pk.hn, hh + 2 * H, GH);
                if (bhh)
                  for (int64_t b = 0; b < B; ++b)
                    for (int64_t k = 0; k < H; ++k) hh[b * GH + 2 * H + k] += bhh[2 * H + k];
              }
              for_rows(B, GH, [&](int64_t b) {
                if (s >= lens[b]) return;
                const int64_t row = t_of(s, b) * B + b;
                T* store = td ? td->pre.data() + row * S : ws.pre.data() + b * S;
                K.gru_fwd(cp, H, lbr, xw + row * GH, hh + b * GH, h + b * H, h + b * H, store);
              });
              break;
            }
            case CellType::kRnn: {
              for_rows(B, GH, [&](int64_t b) {
                if (s >= lens[b]) return;
                const int64_t row = t_of(s, b) * B + b;
                T* pre = td ? td->pre.data() + row * S : ws.pre.data() + b * S;
                const T* xr = xw + row * GH;
                const T* hr = hh + b * GH;
                for (int64_t k = 0; k < GH; ++k) pre[k] = xr[k] + hr[k];
                K.rnn_fwd(cp, H, pre, h + b * H);
              });
              break;
            }
          }
          // 2c. outputs of running sequences
          for (int64_t b = 0; b < B && ylp; ++b) {
            if (s >= lens[b]) continue;
            const int64_t row = t_of(s, b) * B + b;
            std::memcpy(ylp + row * OUT + d * R, h + b * R, sizeof(T) * R);
          }
        }
        if (a.hn) std::memcpy(a.hn + idx * B * R, h, sizeof(T) * B * R);
        if (a.cn && cell == CellType::kLstm) std::memcpy(a.cn + idx * B * H, c, sizeof(T) * B * H);
      }
      xin = ylp;
    }
    // top layer output, in the caller's layout
    if (a.y && cfg_.batch_first)
      transpose01(xin, a.y, TT, B, OUT);
    else if (a.y && xin != a.y)
      par_copy(a.y, xin, TT * B * OUT);
    if (tape) {
      tape->weights_version = version_;
      tape->valid = true;
    }
  });
}

template <typename T>
void Rnn<T>::backward(const Tape<T>& tape, const BackwardArgs<T>& a) {
  if (!tape.valid) throw Error(Code::kInvalidArgument, "tape: it holds no recorded forward pass");
  if (tape.weights_version != version_)
    throw Error(Code::kInvalidArgument,
                "tape: the weights changed after this forward pass; run forward again before backward");
  if (static_cast<int64_t>(tape.dirs.size()) != cfg_.num_layers * cfg_.dirs())
    throw Error(Code::kInvalidArgument, "tape: recorded by a different module");
  {
    // A tape of another module with the same layer count (weights versions start equal) would be
    // read out of bounds: check every recorded buffer holds what this module's shapes need.
    const int64_t TT = tape.seq_len, B = tape.batch, H = cfg_.hidden_size;
    const int64_t S = cfg_.cell == CellType::kGru ? 4 * H : cfg_.gates() * H;
    const bool lstm = cfg_.cell == CellType::kLstm;
    bool ok = TT >= 1 && B >= 1 && tape.max_len >= 1 && tape.max_len <= TT && static_cast<int64_t>(tape.lengths.size()) == B &&
              static_cast<int64_t>(tape.layer_out.size()) == cfg_.num_layers;
    if (ok) {
      const int64_t TB = checked_mul({TT, B}, "tape");
      auto has = [&](const Buffer<T>& b, int64_t w) { return static_cast<int64_t>(b.size()) >= checked_mul({TB, w}, "tape"); };
      ok = has(tape.x0, cfg_.input_size);
      for (const Buffer<T>& y : tape.layer_out) ok = ok && has(y, cfg_.output_size());
      for (const typename Tape<T>::Dir& d : tape.dirs)
        ok = ok && has(d.pre, S) && has(d.hprev, cfg_.state_size()) && (!lstm || (has(d.cprev, H) && has(d.c, H)));
    }
    if (!ok) throw Error(Code::kInvalidArgument, "tape: recorded by a different module");
  }
  if (!a.dx || !a.dw) throw Error(Code::kInvalidArgument, "backward: dx and dw are required");
  guarded("backward", [&] {
    const cpu::KernelTable<T>& K = cpu::kernels<T>();
    cpu::CellParams<T> cp = cell_params<T>(cfg_);
    Workspace& ws = *ws_;
    const int64_t TT = tape.seq_len, B = tape.batch, L = cfg_.num_layers, D = cfg_.dirs();
    const int64_t H = cfg_.hidden_size, R = cfg_.state_size(), P = cfg_.proj_size, G = cfg_.gates();
    const int64_t GH = G * H, S = cfg_.cell == CellType::kGru ? 4 * H : GH, OUT = cfg_.output_size();
    const int64_t I = cfg_.input_size, TB = TT * B;
    const CellType cell = cfg_.cell;
    const bool lbr = cfg_.linear_before_reset;
    const std::vector<int32_t>& lens = tape.lengths;
    const int64_t max_len = tape.max_len;
    ensure_packed(&K, true);
    const Precision f32 = Precision::kFloat32;
    // dW (+)= G^T * Act over all T*B rows: G [TB, ld] (columns g0..g0+M) read in place as the
    // transposed left operand, Act [TB, N] packed as the [K, N] operand; one packed GEMM, its rows
    // (of dW) split over the pool.
    auto weight_grad = [&](int64_t M, int64_t N, const T* G, int64_t ldg, const T* Act, int64_t ldact, T* dW) {
      ensure_size(ws.actp, K.packed_size(N, TB));
      T* Pk = ws.actp.data();
      // (panels are independent: packed over the pool, a panel range per chunk)
      const int64_t panels = (N + K.nr - 1) / K.nr;
      auto pack = [&](int64_t p0, int64_t p1) {
        const int64_t j0 = p0 * K.nr, j1 = std::min(N, p1 * K.nr);
        K.pack_kn(j1 - j0, TB, Act + j0, ldact, Pk + j0 * TB);
      };
      auto product = [&](int64_t m0, int64_t m1) { K.gemm_tn_packed(m1 - m0, N, TB, G + m0, ldg, Pk, dW + m0 * N, N, true, 0, panels); };
      if (worth_parallel(M, N, TB)) {
        ThreadPool::global().parallel_for(panels, 1, pack);
        ThreadPool::global().parallel_for(M, 16, product);
      } else {
        pack(0, panels);
        product(0, M);
      }
    };

    if (!a.accumulate_dw) par_copy<T>(a.dw, nullptr, param_count());
    if (a.dh_steps) std::fill_n(a.dh_steps, L * D * TT * B * R, T(0));

    // gradient w.r.t. the top layer's output, time-major
    const int64_t widest = std::max(I, OUT);
    ensure_size(ws.g[0], TB * widest);
    ensure_size(ws.g[1], TB * widest);
    // (read only: a time-major gy is used where it lies)
    const T* gout = ws.g[0].data();
    if (a.gy && !cfg_.batch_first)
      gout = a.gy;
    else if (a.gy)
      transpose01(a.gy, ws.g[0].data(), B, TT, OUT);
    else
      std::fill_n(ws.g[0].data(), TB * OUT, T(0));

    ensure_size(ws.dh, B * R);
    ensure_size(ws.dc, B * H);
    ensure_size(ws.dstep, B * GH);
    ensure_size(ws.dhhstep, B * GH);
    ensure_size(ws.dhout, B * H);
    ensure_size(ws.dhnew, B * R);
    ensure_size(ws.dhprev, B * H);
    ensure_size(ws.drh, B * H);
    ensure_size(ws.hfull, B * H);

    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t in = cfg_.layer_input_size(l);
      // (the first layer's time-major input gradient is written where the caller wants it)
      T* gx = l == 0 && !cfg_.batch_first ? a.dx : (gout == ws.g[0].data() ? ws.g[1] : ws.g[0]).data();
      // (the first direction's dX product below writes every row of gx; the second adds to it)
      const T* xin = l == 0 ? tape.x0.data() : tape.layer_out[l - 1].data();

      for (int64_t d = 0; d < D; ++d) {
        const int64_t idx = l * D + d;
        const typename Tape<T>::Dir& td = tape.dirs[idx];
        const typename Workspace::Packed& pk = ws.packed[idx];
        cp.peep = param(l, d, ParamKind::kPeephole);
        T* dWih = a.dw + param_offset(l, d, ParamKind::kWeightIh);
        T* dWhh = a.dw + param_offset(l, d, ParamKind::kWeightHh);
        T* dbih = cfg_.bias ? a.dw + param_offset(l, d, ParamKind::kBiasIh) : nullptr;
        T* dbhh = cfg_.bias ? a.dw + param_offset(l, d, ParamKind::kBiasHh) : nullptr;
        T* dWhr = P > 0 ? a.dw + param_offset(l, d, ParamKind::kWeightHr) : nullptr;

        T* dh = ws.dh.data();
        T* dc = ws.dc.data();
        if (a.ghn)
          std::memcpy(dh, a.ghn + idx * B * R, sizeof(T) * B * R);
        else
          std::fill_n(dh, B * R, T(0));
        if (cell == CellType::kLstm) {
          if (a.gcn)
            std::memcpy(dc, a.gcn + idx * B * H, sizeof(T) * B * H);
          else
            std::fill_n(dc, B * H, T(0));
        }
        // rows of running steps are all written below; padded rows (if any) must hold zeros
        const bool padded = std::any_of(lens.begin(), lens.end(), [&](int32_t n) { return n < TT; });
        auto clear = [&](Buffer<T>& buf, int64_t n) { size_rows(buf, n, padded); };
        // Gate-gradient rows are ldp apart: an odd number of cache lines, so that the weight
        // gradients, which read them down the columns, spread over every set of the L1 cache (a
        // row of 4 KiB, as C4's 4 x 256 gates, put every line of a column in the same set).
        constexpr int64_t kLine = static_cast<int64_t>(64 / sizeof(T));
        const int64_t lines = (GH + kLine - 1) / kLine, ldp = (lines % 2 == 0 ? lines + 1 : lines) * kLine;
        clear(ws.dpre, TB * ldp);
        if (cell == CellType::kGru) clear(ws.dhh, TB * ldp);
        if (cell == CellType::kGru && !lbr) clear(ws.rhall, TB * H);
        T* dpre_all = ws.dpre.data();
        T* dhh_all = cell == CellType::kGru ? ws.dhh.data() : dpre_all;

        auto t_of = [&](int64_t s, int64_t b) -> int64_t { return d == 0 ? s : lens[b] - 1 - s; };
        const bool inplace = !padded;

        // Batch rows are independent all the way back through time: the step loop splits them
        // between the pool's threads (one region, no barrier), each running every step on its
        // rows with GEMMs of its own. A projection's weight gradient is shared: one thread then.
        ThreadPool& pool = ThreadPool::global();
        const int want = P == 0 && B >= 2 && static_cast<double>(B) * static_cast<double>(GH) * static_cast<double>(R) >= 4.0 * kParallelWork
                             ? static_cast<int>(std::min<int64_t>(pool.threads(), B))
                             : 1;
        pool.run_team(want, [&](int member, int team) {
          const int64_t r0 = B * member / team, r1 = B * (member + 1) / team, nr = r1 - r0;
          // the cell's backward for each of this member's rows (over the pool only with one member)
          auto rows = [&](auto&& f) {
            if (team > 1) {
              for (int64_t b = r0; b < r1; ++b) f(b);
            } else {
              for_rows(B, GH, f);
            }
          };
          for (int64_t s = max_len - 1; s >= 0; --s) {
            // 1. gradient arriving from this step's output (dh is then the total dL/dh_t)
            for (int64_t b = r0; b < r1; ++b) {
              if (s >= lens[b]) continue;
              const int64_t row = t_of(s, b) * B + b;
              const T* go = gout + row * OUT + d * R;
              for (int64_t k = 0; k < R; ++k) dh[b * R + k] += go[k];
              if (a.dh_steps) std::memcpy(a.dh_steps + (idx * TT * B + row) * R, dh + b * R, sizeof(T) * R);
            }
            // Without padding every row runs every step at the same time index: the gate gradients
            // are written where the weight-gradient GEMMs read them (rows t * B + b of the all-steps
            // buffers, ldp apart), not copied there after the step (C4: 6.5 MB a call).
            const int64_t t_all = d == 0 ? s : TT - 1 - s;
            const int64_t sld = inplace ? ldp : GH;
            T* dstep = inplace ? dpre_all + (t_all * B + r0) * ldp : ws.dstep.data() + r0 * GH;
            T* dhhstep = inplace && cell == CellType::kGru ? dhh_all + (t_all * B + r0) * ldp : ws.dhhstep.data() + r0 * GH;
            T* dhnew = ws.dhnew.data() + r0 * R;
            for (int64_t b = r0; b < r1; ++b)  // rows past their sequence's end enter the products as zeros
              if (s >= lens[b]) std::fill_n(dstep + (b - r0) * sld, GH, T(0));
            switch (cell) {
              case CellType::kLstm: {
                // 2. through the projection
                T* dhout = dh;
                if (P > 0) {  // (one member: dWhr is shared)
                  dhout = ws.dhout.data();
                  gemm_w(K, f32, B, H, P, dh, P, pk.hr_t, dhout, H);
                  for (int64_t b = 0; b < B; ++b) {
                    if (s >= lens[b]) continue;
                    const int64_t row = t_of(s, b) * B + b;
                    T* hf = ws.hfull.data() + b * H;
                    K.lstm_hout(cp, H, td.pre.data() + row * S, td.c.data() + row * H, hf);
                    K.gemm_tn(P, H, 1, dh + b * P, P, hf, H, dWhr, H, true);
                  }
                }
                // 3. through the cell
                rows([&](int64_t b) {
                  if (s >= lens[b]) return;
                  const int64_t row = t_of(s, b) * B + b;
                  K.lstm_bwd(cp, H, td.pre.data() + row * S, td.cprev.data() + row * H, td.c.data() + row * H,
                             dhout + b * H, dc + b * H, dstep + (b - r0) * sld);
                });
                // 4. to the previous state
                gemm_w(K, f32, nr, R, GH, dstep, sld, pk.hh_t, dhnew, R);
                break;
              }
              case CellType::kRnn: {
                rows([&](int64_t b) {
                  if (s >= lens[b]) return;
                  const int64_t row = t_of(s, b) * B + b;
                  K.rnn_bwd(cp, H, td.pre.data() + row * S, dh + b * H, dstep + (b - r0) * sld);
                });
                gemm_w(K, f32, nr, R, GH, dstep, sld, pk.hh_t, dhnew, R);
                break;
              }
              case CellType::kGru: {
                for (int64_t b = 0; b < nr; ++b) std::fill_n(dhhstep + b * sld, GH, T(0));
                T* dhprev = ws.dhprev.data() + r0 * H;
                std::fill_n(dhprev, nr * H, T(0));
                rows([&](int64_t b) {
                  if (s >= lens[b]) return;
                  const int64_t row = t_of(s, b) * B + b;
                  K.gru_bwd(cp, H, lbr, td.pre.data() + row * S, td.hprev.data() + row * H, dh + b * H,
                            dstep + (b - r0) * sld, dhhstep + (b - r0) * sld, dhprev + (b - r0) * H);
                });
                if (lbr) {
                  gemm_w(K, f32, nr, H, GH, dhhstep, sld, pk.hh_t, dhnew, H);
                } else {
                  T* drh = ws.drh.data() + r0 * H;
                  gemm_w(K, f32, nr, H, H, dhhstep + 2 * H, sld, pk.hn_t, drh, H);
                  for (int64_t b = r0; b < r1; ++b) {
                    if (s >= lens[b]) continue;
                    const int64_t row = t_of(s, b) * B + b;
                    const T* store = td.pre.data() + row * S;
                    const T* hp = td.hprev.data() + row * H;
                    K.gru_bwd_reset(cp, H, store, hp, drh + (b - r0) * H, dstep + (b - r0) * sld, dhhstep + (b - r0) * sld,
                                    dhprev + (b - r0) * H);
                    K.gru_rh(cp, H, store, hp, ws.rhall.data() + row * H);
                  }
                  gemm_w(K, f32, nr, H, 2 * H, dhhstep, sld, pk.hh_t, dhnew, H);
                }
                for (int64_t k = 0; k < nr * H; ++k) dhnew[k] += dhprev[k];
                break;
              }
            }
            // 5. running sequences pass the gradient to their previous state; record gate gradients
            for (int64_t b = r0; b < r1; ++b) {
              if (s >= lens[b]) continue;
              const int64_t row = t_of(s, b) * B + b;
              std::memcpy(dh + b * R, dhnew + (b - r0) * R, sizeof(T) * R);
              if (inplace) continue;
              std::memcpy(dpre_all + row * ldp, dstep + (b - r0) * GH, sizeof(T) * GH);
              if (cell == CellType::kGru) std::memcpy(dhh_all + row * ldp, dhhstep + (b - r0) * GH, sizeof(T) * GH);
            }
          }
        });
        if (a.dh0) std::memcpy(a.dh0 + idx * B * R, dh, sizeof(T) * B * R);
        if (a.dc0 && cell == CellType::kLstm) std::memcpy(a.dc0 + idx * B * H, dc, sizeof(T) * B * H);

        // weight gradients over all steps at once; padded rows hold zero gradients
        weight_grad(GH, in, dpre_all, ldp, xin, in, dWih);
        gemm_w(K, f32, TB, in, GH, dpre_all, ldp, pk.ih_t, gx, in, d > 0);
        const T* hprev = td.hprev.data();
        if (cell == CellType::kGru && !lbr) {
          weight_grad(2 * H, H, dhh_all, ldp, hprev, H, dWhh);
          weight_grad(H, H, dhh_all + 2 * H, ldp, ws.rhall.data(), H, dWhh + 2 * H * H);
        } else {
          weight_grad(GH, R, dhh_all, ldp, hprev, R, dWhh);
        }
        if (cp.peep) {
          // peephole gradients: dP_i = sum dpre_i * c_prev, dP_f = sum dpre_f * c_prev, dP_o = sum dpre_o * c
          T* dP = a.dw + param_offset(l, d, ParamKind::kPeephole);
          const T* cprev = td.cprev.data();
          const T* cc = td.c.data();
          for (int64_t row = 0; row < TB; ++row) {
            const T* dp = dpre_all + row * ldp;
            const T* cpr = cprev + row * H;
            const T* cr = cc + row * H;
            for (int64_t j = 0; j < H; ++j) {
              dP[j] += dp[j] * cpr[j];
              dP[H + j] += dp[H + j] * cpr[j];
              dP[2 * H + j] += dp[3 * H + j] * cr[j];
            }
          }
        }
        if (dbih) {
          // column sums: rows split over the pool, each part summed into its own row of ws.db, the
          // parts then added in order (the same sums on any number of threads: parts are fixed).
          // LSTM and RNN have one set of gate gradients for both biases (summed once).
          const bool one = dhh_all == dpre_all;
          constexpr int64_t kParts = 4;
          ensure_size(ws.db, kParts * 2 * GH);
          auto part = [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1; ++p) {
              T* db = ws.db.data() + p * 2 * GH;
              std::fill_n(db, (one ? 1 : 2) * GH, T(0));
              for (int64_t row = TB * p / kParts; row < TB * (p + 1) / kParts; ++row) {
                const T* dp = dpre_all + row * ldp;
                for (int64_t k = 0; k < GH; ++k) db[k] += dp[k];
                if (!one) {
                  const T* dq = dhh_all + row * ldp;
                  for (int64_t k = 0; k < GH; ++k) db[GH + k] += dq[k];
                }
              }
            }
          };
          if (worth_parallel(TB, GH, 1))
            ThreadPool::global().parallel_for(kParts, 1, part);
          else
            part(0, kParts);
          for (int64_t p = 0; p < kParts; ++p) {
            const T* db = ws.db.data() + p * 2 * GH;
            for (int64_t k = 0; k < GH; ++k) dbih[k] += db[k];
            for (int64_t k = 0; k < GH; ++k) dbhh[k] += db[(one ? 0 : GH) + k];
          }
        }
      }
      gout = gx;
    }
    // gradient w.r.t. the input, in the caller's layout (zero at padded steps)
    if (cfg_.batch_first) transpose01(gout, a.dx, TT, B, I);
  });
}

template class Rnn<float>;
template class Rnn<double>;

namespace testing {
void force_step_mode(int mode) { g_forced_step_mode.store(mode < 0 || mode > 2 ? -1 : mode, std::memory_order_relaxed); }
void force_step_split(int split) { g_forced_step_split.store(split < 0 || split > 1 ? -1 : split, std::memory_order_relaxed); }
void skip_zero_state(bool skip) { g_skip_zero_state.store(skip, std::memory_order_relaxed); }
}  // namespace testing

}  // namespace rnnx
