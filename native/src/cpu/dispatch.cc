// dispatch.cc — builds the float32 KernelTable: the scalar reference first, then, slot by slot,
// the fastest variant this binary has and this machine supports (ISA groups are compiled in when
// the build defines RNNX_HAVE_<ISA>). RNNX_CPU_ISA (environment) or set_isa() can lower the choice.
#include "dispatch.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cpu_features.h"
#include "rnnx/status.h"

namespace rnnx::cpu {

#if defined(RNNX_HAVE_AVX2)
namespace avx2 { void fill_table(KernelTable<float>& t); }
#endif
#if defined(RNNX_HAVE_AVX512)
namespace avx512 { void fill_table(KernelTable<float>& t); }
#endif
#if defined(RNNX_HAVE_NEON)
namespace neon { void fill_table(KernelTable<float>& t); }
#endif

namespace {

enum Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };
const char* const kIsaNames[] = {"scalar", "avx2", "avx512", "neon"};

bool compiled(Isa i) {
  switch (i) {
    case kScalar: return true;
#if defined(RNNX_HAVE_AVX2)
    case kAvx2: return true;
#endif
#if defined(RNNX_HAVE_AVX512)
    case kAvx512: return true;
#endif
#if defined(RNNX_HAVE_NEON)
    case kNeon: return true;
#endif
    default: return false;
  }
}

bool supported_by_cpu(Isa i) {
  const CpuFeatures& f = cpu_features();
  switch (i) {
    case kScalar: return true;
    case kAvx2: return f.avx2_fma;
    case kAvx512: return f.avx512;
    case kNeon: return f.neon;
  }
  return false;
}

KernelTable<float> build(Isa target) {
  KernelTable<float> t = scalar::table<float>();
#if defined(RNNX_HAVE_AVX2)
  if (target == kAvx2 || target == kAvx512) avx2::fill_table(t);
#endif
#if defined(RNNX_HAVE_AVX512)
  if (target == kAvx512) avx512::fill_table(t);
#endif
#if defined(RNNX_HAVE_NEON)
  if (target == kNeon) neon::fill_table(t);
#endif
  (void)target;
  return t;
}

Isa best() {
  Isa b = kScalar;
  for (Isa i : {kAvx2, kAvx512, kNeon})
    if (compiled(i) && supported_by_cpu(i)) b = i;
  return b;
}

int parse(const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (name == kIsaNames[i]) return i;
  return -1;
}

struct State {
  KernelTable<float> tables[4];
  std::atomic<int> selected{0};
  State() {
    for (int i = 0; i < 4; ++i) tables[i] = build(static_cast<Isa>(i));
    Isa chosen = best();
    if (const char* env = std::getenv("RNNX_CPU_ISA")) {
      int want = parse(env);
      // A request above what is usable, or an unknown name, keeps the best choice: the environment
      // variable can only lower it (set_isa() reports such requests as errors).
      if (want >= 0 && compiled(static_cast<Isa>(want)) && supported_by_cpu(static_cast<Isa>(want)) &&
          (want == kScalar || want <= chosen))
        chosen = static_cast<Isa>(want);
    }
    selected.store(chosen);
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

const KernelTable<float>& kernels_f32() {
  State& s = state();
  return s.tables[s.selected.load(std::memory_order_acquire)];
}

const KernelTable<double>& kernels_f64() { return scalar::table<double>(); }

std::vector<std::string> compiled_isas() {
  std::vector<std::string> v;
  for (int i = 0; i < 4; ++i)
    if (compiled(static_cast<Isa>(i))) v.push_back(kIsaNames[i]);
  return v;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> v;
  for (int i = 0; i < 4; ++i)
    if (supported_by_cpu(static_cast<Isa>(i))) v.push_back(kIsaNames[i]);
  return v;
}

std::string selected_isa() { return kIsaNames[state().selected.load()]; }

double fma_peak_gflops(int threads, double seconds) {
  if (threads < 1 || threads > 1024) throw Error(Code::kInvalidArgument, "threads: expected an integer in 1..1024");
  if (!(seconds > 0 && seconds <= 10)) throw Error(Code::kInvalidArgument, "seconds: expected a number in (0, 10]");
  const KernelTable<float>& t = kernels_f32();
  std::vector<double> r(static_cast<size_t>(threads), 0.0);
  std::vector<std::thread> th;
  for (int i = 1; i < threads; ++i) th.emplace_back([&, i] { r[i] = t.fma_peak(seconds); });
  r[0] = t.fma_peak(seconds);
  for (auto& x : th) x.join();
  double sum = 0;
  for (double v : r) sum += v;
  return sum;
}

void set_isa(const std::string& name) {
  int want = parse(name);
  if (want < 0)
    throw Error(Code::kInvalidArgument, "isa: expected one of scalar, avx2, avx512, neon but received \"" + name + "\"");
  Isa i = static_cast<Isa>(want);
  if (!supported_by_cpu(i))
    throw Error(Code::kInvalidArgument, "isa: this CPU does not support " + name);
  if (!compiled(i))
    throw Error(Code::kInvalidArgument, "isa: this build of rnnx has no " + name + " kernels");
  state().selected.store(want, std::memory_order_release);
}

}  // namespace rnnx::cpu
