// test_gemm.cc — the GEMM kernels of every KernelTable against a naive triple loop.
//
// Odd sizes (1, 3, 7, 17, 33 and some larger), leading dimensions wider than the rows, acc on and
// off, every operand in a guard-page buffer. The gaps between rows hold NaN (a kernel that reads
// them poisons its result), C's gaps hold a sentinel that must survive, and with acc=false C
// starts as NaN (a kernel that reads C before writing it fails).
//
// Tolerance per element: |c - ref| <= 2 (K + 2) eps * (|c0| + sum_k |a_ik b_kj|), the classical
// bound for any summation order (so FMA and blocked SIMD kernels pass, wrong answers do not).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/kernels/kernels.h"
#include "guard_buffer.h"
#include "test.h"
#include "util.h"
#include "isa.h"

using rnnx::cpu::KernelTable;
using rnnx_test::GuardBuffer;
using rnnx_test::Rng;
using rnnx_test::usable_isas;

namespace {

// kNTP / kNNP: gemm_nt_packed with B packed by pack_nt / pack_kn; kTNP: gemm_tn_packed (A given
// transposed) with B packed by pack_kn. Packed products run as two calls on disjoint panel ranges.
enum class Op { kNT, kNN, kTN, kNTP, kNNP, kTNP };
const char* op_name(Op op) {
  switch (op) {
    case Op::kNT: return "gemm_nt";
    case Op::kNN: return "gemm_nn";
    case Op::kTN: return "gemm_tn";
    case Op::kNTP: return "pack_nt+gemm_nt_packed";
    case Op::kNNP: return "pack_kn+gemm_nt_packed";
    case Op::kTNP: return "pack_kn+gemm_tn_packed";
  }
  return "?";
}
bool a_transposed(Op op) { return op == Op::kTN || op == Op::kTNP; }
bool b_nk(Op op) { return op == Op::kNT || op == Op::kNTP; }

struct Dims {
  int64_t rows, width;
};

// Operand shapes as the kernels read them (row-major, leading dimension >= width).
Dims a_dims(Op op, int64_t M, int64_t K) { return a_transposed(op) ? Dims{K, M} : Dims{M, K}; }
Dims b_dims(Op op, int64_t N, int64_t K) { return b_nk(op) ? Dims{N, K} : Dims{K, N}; }

constexpr double kSentinel = 12345.25;

// A matrix in a guard buffer: (rows - 1) * ld + width elements, so the guard page sits right
// after the last row's last element. Gaps between rows are NaN.
template <typename T>
struct Mat {
  Dims d;
  int64_t ld;
  GuardBuffer<T> buf;
  Mat(Dims dims, int64_t ld_) : d(dims), ld(ld_), buf(static_cast<std::size_t>((dims.rows - 1) * ld_ + dims.width)) {}
  T& at(int64_t r, int64_t c) { return buf[static_cast<std::size_t>(r * ld + c)]; }
  void randomize(Rng& rng) {
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t c = 0; c < d.width; ++c) at(r, c) = static_cast<T>(rng.uniform());
  }
};

template <typename T>
int run_case(const KernelTable<T>& tab, const std::string& label, Op op, int64_t M, int64_t N, int64_t K,
             int64_t pad, bool acc, Rng& rng) {
  Mat<T> A(a_dims(op, M, K), a_dims(op, M, K).width + pad);
  Mat<T> B(b_dims(op, N, K), b_dims(op, N, K).width + pad * 2);
  Mat<T> C(Dims{M, N}, N + pad);
  A.randomize(rng);
  B.randomize(rng);
  C.buf.fill(static_cast<T>(kSentinel));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      C.at(i, j) = acc ? static_cast<T>(rng.uniform()) : std::numeric_limits<T>::quiet_NaN();

  auto a = [&](int64_t i, int64_t k) -> long double { return a_transposed(op) ? A.at(k, i) : A.at(i, k); };
  auto b = [&](int64_t k, int64_t j) -> long double { return b_nk(op) ? B.at(j, k) : B.at(k, j); };
  std::vector<long double> ref(static_cast<std::size_t>(M * N)), mag(ref.size());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      long double s = acc ? static_cast<long double>(C.at(i, j)) : 0.0L;
      long double m = std::fabs(s);
      for (int64_t k = 0; k < K; ++k) {
        s += a(i, k) * b(k, j);
        m += std::fabs(a(i, k) * b(k, j));
      }
      ref[static_cast<std::size_t>(i * N + j)] = s;
      mag[static_cast<std::size_t>(i * N + j)] = m;
    }

  if (op == Op::kNT || op == Op::kNN || op == Op::kTN) {
    auto fn = op == Op::kNT ? tab.gemm_nt : op == Op::kNN ? tab.gemm_nn : tab.gemm_tn;
    fn(M, N, K, A.buf.data(), A.ld, B.buf.data(), B.ld, C.buf.data(), C.ld, acc);
  } else {
    GuardBuffer<T> P(static_cast<std::size_t>(tab.packed_size(N, K)));
    (op == Op::kNTP ? tab.pack_nt : tab.pack_kn)(N, K, B.buf.data(), B.ld, P.data());
    auto fn = op == Op::kTNP ? tab.gemm_tn_packed : tab.gemm_nt_packed;
    const int64_t panels = (N + tab.nr - 1) / tab.nr, mid = panels / 2;
    fn(M, N, K, A.buf.data(), A.ld, P.data(), C.buf.data(), C.ld, acc, mid, panels);
    fn(M, N, K, A.buf.data(), A.ld, P.data(), C.buf.data(), C.ld, acc, 0, mid);
  }

  const long double tol = 2.0L * (K + 2) * std::numeric_limits<T>::epsilon();
  int bad = 0;
  for (int64_t i = 0; i < M && bad == 0; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      long double got = C.at(i, j), want = ref[static_cast<std::size_t>(i * N + j)];
      long double bound = tol * mag[static_cast<std::size_t>(i * N + j)] + 1e-300L;
      if (!(std::fabs(got - want) <= bound)) {
        rnnx_test::report(__FILE__, __LINE__,
                          label + " " + op_name(op) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                              " K=" + std::to_string(K) + " pad=" + std::to_string(pad) +
                              " acc=" + std::to_string(acc) + ": C[" + std::to_string(i) + "," +
                              std::to_string(j) + "] = " + rnnx_test::str(static_cast<double>(got)) +
                              ", want " + rnnx_test::str(static_cast<double>(want)));
        ++bad;
        break;
      }
    }
    for (int64_t j = N; j < C.ld && i + 1 < M; ++j) {
      if (!(C.at(i, j) == static_cast<T>(kSentinel))) {
        rnnx_test::report(__FILE__, __LINE__,
                          label + " " + op_name(op) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                              " K=" + std::to_string(K) + ": wrote into the gap after row " + std::to_string(i));
        ++bad;
        break;
      }
    }
  }
  return bad;
}

template <typename T>
void check_table(const KernelTable<T>& tab, const std::string& label, uint64_t seed) {
  REQUIRE(tab.gemm_nt && tab.gemm_nn && tab.gemm_tn && tab.pack_nt && tab.pack_kn && tab.gemm_nt_packed &&
          tab.gemm_tn_packed);
  Rng rng(seed);
  const int64_t sizes[] = {1, 3, 7, 17, 33};
  int bad = 0;
  const Op ops[] = {Op::kNT, Op::kNN, Op::kTN, Op::kNTP, Op::kNNP, Op::kTNP};
  for (Op op : ops)
    for (int64_t M : sizes)
      for (int64_t N : sizes)
        for (int64_t K : sizes)
          for (int64_t pad : {0, 3})
            for (bool acc : {false, true}) {
              bad += run_case(tab, label, op, M, N, K, pad, acc, rng);
              if (bad > 10) return;  // enough to diagnose
            }
  // Larger shapes that cross the blocking of tuned kernels (multiples of 8/16 and one past).
  const int64_t big[][3] = {{64, 64, 64}, {65, 129, 67}, {128, 5, 300}, {1, 257, 130}, {200, 1, 64}, {16, 48, 1}};
  for (Op op : ops)
    for (const auto& s : big)
      for (int64_t pad : {0, 7})
        for (bool acc : {false, true}) {
          bad += run_case(tab, label, op, s[0], s[1], s[2], pad, acc, rng);
          if (bad > 10) return;
        }
}

}  // namespace

TEST(gemm, scalar_f32) { check_table(rnnx::cpu::scalar::table<float>(), "scalar<float>", 1); }

TEST(gemm, scalar_f64) { check_table(rnnx::cpu::scalar::table<double>(), "scalar<double>", 2); }

TEST(gemm, dispatch_f64) { check_table(rnnx::cpu::kernels_f64(), "kernels_f64", 3); }

// Every ISA this machine supports, selected through the dispatcher (the RNNX_CPU_ISA mechanism).
TEST(gemm, dispatch_f32_every_isa) {
  const std::string original = rnnx::cpu::selected_isa();
  const auto supported = rnnx::cpu::supported_isas();
  REQUIRE(!supported.empty());
  CHECK(supported.front() == "scalar");
  const auto usable = usable_isas();
  CHECK(std::find(usable.begin(), usable.end(), original) != usable.end());
  std::printf("    compiled ISAs:");
  for (const auto& s : rnnx::cpu::compiled_isas()) std::printf(" %s", s.c_str());
  std::printf("; supported:");
  for (const auto& s : supported) std::printf(" %s", s.c_str());
  std::printf("; selected: %s\n", original.c_str());
  uint64_t seed = 10;
  for (const auto& isa : usable) {
    rnnx::cpu::set_isa(isa);
    CHECK_EQ(rnnx::cpu::selected_isa(), isa);
    const auto& tab = rnnx::cpu::kernels_f32();
    CHECK_EQ(std::string(tab.isa), isa);
    check_table(tab, "kernels_f32[" + isa + "]", seed++);
  }
  rnnx::cpu::set_isa(original);
  CHECK_EQ(rnnx::cpu::selected_isa(), original);
}

TEST(gemm, set_isa_rejects_unknown_and_unusable) {
  const std::string original = rnnx::cpu::selected_isa();
  CHECK_THROWS_CODE(rnnx::cpu::set_isa("avx9000"), rnnx::Code::kInvalidArgument);
  CHECK_EQ(rnnx::cpu::selected_isa(), original);
  // An ISA that is compiled but not supported (or supported but not compiled) cannot be selected.
  const auto usable = usable_isas();
  for (const char* isa : {"scalar", "avx2", "avx512", "neon"}) {
    if (std::find(usable.begin(), usable.end(), isa) != usable.end()) continue;
    CHECK_THROWS_CODE(rnnx::cpu::set_isa(isa), rnnx::Code::kInvalidArgument);
    CHECK_EQ(rnnx::cpu::selected_isa(), original);
  }
}
