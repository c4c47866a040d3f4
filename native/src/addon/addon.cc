// addon.cc — module init: per-environment instance data, the env cleanup hook, and the export
// table (exactly the names of NativeBinding in lib/native/types.ts).
//
// The addon is loaded once per environment (the main thread and each worker_thread that
// requires it). Init runs on that environment's JS thread and keeps everything it creates in
// that environment's AddonData; the only process-wide state is plain atomics (live-object and
// in-flight counters) and the core's kernel table and thread pool.
#include <atomic>
#include <chrono>
#include <random>

#include "addon_data.h"
#include "addon_rnn.h"
#include "addon_stream.h"
#include "addon_tape.h"
#include "convert.h"
#include "cpu/dispatch.h"
#include "errors.h"
#include "module_state.h"
#include "rnnx/backend_info.h"
#include "rnnx/thread_pool.h"

#ifndef RNNX_VERSION
#define RNNX_VERSION "0.1.0"
#endif

namespace rnnx::addon {

Napi::Function DefineModelModule(Napi::Env env);  // addon_model.cc

// ---- process-wide counters ----------------------------------------------------------------

namespace {
std::atomic<int64_t> g_live_objects{0};
std::atomic<int64_t> g_async_in_flight{0};
constexpr int kMaxThreads = 1024;
}  // namespace

int64_t LiveObjects() noexcept { return g_live_objects.load(std::memory_order_relaxed); }
void AddLiveObjects(int64_t delta) noexcept { g_live_objects.fetch_add(delta, std::memory_order_relaxed); }
int64_t AsyncInFlight() noexcept { return g_async_in_flight.load(std::memory_order_acquire); }
void AddAsyncInFlight(int64_t delta) noexcept { g_async_in_flight.fetch_add(delta, std::memory_order_acq_rel); }

void ExternalMemory::Set(int64_t bytes) noexcept {
  const int64_t delta = bytes - bytes_;
  if (delta == 0) return;
  try {
    Napi::MemoryManagement::AdjustExternalMemory(Napi::Env(env_), delta);
  } catch (...) {
    // Only fails for a bad env (never here); accounting is advisory, so carry on.
  }
  bytes_ = bytes;
}

AddonData& GetAddonData(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) throw rnnx::Error(Code::kInternal, "rnnx addon used before its initialisation");
  return *data;
}

namespace {

// ---- type tags ----------------------------------------------------------------------------

uint64_t SplitMix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// A fresh random 128-bit tag. Random (not a constant) so that two copies of this addon in one
/// process — e.g. a prebuilt and a local build, or two package versions — never accept each
/// other's objects: their C++ layouts may differ, and napi_unwrap alone cannot tell.
napi_type_tag RandomTypeTag() {
  uint64_t seed = static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  seed ^= reinterpret_cast<uintptr_t>(&seed);
  try {
    std::random_device rd;
    seed ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    // No entropy device: the clock and stack address still differ per load.
  }
  static std::atomic<uint64_t> counter{0};
  seed ^= counter.fetch_add(1) * 0xD6E8FEB86659FD93ull;
  napi_type_tag t;
  t.lower = SplitMix64(seed);
  t.upper = SplitMix64(seed);
  return t;
}

// ---- env cleanup ----------------------------------------------------------------------------

/// Runs when the environment shuts down (worker exit / terminate, process exit), on its JS
/// thread, after its pending async work has completed. Frees the native memory of every module
/// still alive so nothing depends on finalizers running. Owns (and deletes) `holder`.
void CleanupHook(std::shared_ptr<EnvRegistry>* holder) {
  std::unique_ptr<std::shared_ptr<EnvRegistry>> owned(holder);
  EnvRegistry& reg = **owned;
  reg.closing = true;
  std::vector<ModuleState*> states(reg.states.begin(), reg.states.end());
  for (ModuleState* s : states) {
    try {
      s->MarkDisposed();
    } catch (...) {
    }
  }
}

// ---- free functions -------------------------------------------------------------------------

Napi::Array StringArray(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, v[i]));
  return a;
}

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("selected", Napi::String::New(env, rnnx::cpu::selected_isa()));
    o.Set("supported", StringArray(env, rnnx::cpu::supported_isas()));
    o.Set("compiled", StringArray(env, rnnx::cpu::compiled_isas()));
    return o;
  });
}

Napi::Value SetCpuIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string isa = ToString(info[0], "isa", "an ISA name ('scalar', 'avx2', 'avx512' or 'neon')");
    // Swapping the kernel table under a running kernel is not safe (dispatch.h). Async calls are
    // counted; synchronous calls in other worker_threads are the caller's responsibility.
    if (AsyncInFlight() > 0)
      throw ArgError(Code::kBusy, JsKind::kError,
                     "setCpuIsa: async calls are running; await them before changing the ISA");
    rnnx::cpu::set_isa(isa);
    return env.Undefined();
  });
}

Napi::Value CudaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const rnnx::CudaProbe p = rnnx::cuda_probe();
    Napi::Object o = Napi::Object::New(env);
    o.Set("compiled", Napi::Boolean::New(env, p.compiled));
    o.Set("available", Napi::Boolean::New(env, p.available));
    Napi::Array devices = Napi::Array::New(env, p.devices.size());
    for (size_t i = 0; i < p.devices.size(); ++i) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("name", Napi::String::New(env, p.devices[i].name));
      d.Set("memory", Napi::Number::New(env, p.devices[i].memory_bytes));
      d.Set("computeCapability", Napi::String::New(env, p.devices[i].compute_capability));
      devices.Set(static_cast<uint32_t>(i), d);
    }
    o.Set("devices", devices);
    o.Set("reason", Napi::String::New(env, p.reason));
    return o;
  });
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    // The pool is process-wide (shared by every environment). set_threads waits for a running
    // parallel region to finish, so it is safe while other threads compute.
    const int64_t n = ToInteger(info[0], "threads", 1, kMaxThreads, "an integer in 1..1024");
    rnnx::ThreadPool::global().set_threads(static_cast<int>(n));
    return env.Undefined();
  });
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    // Default (first use): RNNX_THREADS, else the hardware concurrency (rnnx::default_threads).
    return Napi::Number::New(env, rnnx::ThreadPool::global().threads());
  });
}

// _fmaPeak(threads, seconds): the selected ISA's multiply-add peak, measured now on `threads`
// threads at once (GFLOP/s), for the benchmarks' "fraction of peak". Blocks for `seconds`.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const int64_t n = ToInteger(info[0], "threads", 1, kMaxThreads, "an integer in 1..1024");
    const double secs = ToNumber(info[1], "seconds", 0.001, 10, "a number of seconds in 0.001..10");
    return Napi::Number::New(env, rnnx::cpu::fma_peak_gflops(static_cast<int>(n), secs));
  });
}

// _handoffNs(rounds): one-way latency of a handoff between two pool threads (ns), measured now
// (rnnx::handoff_latency_ns; 0 with one thread). Blocks about `rounds` microseconds.
Napi::Value HandoffNs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const int64_t n = ToInteger(info[0], "rounds", 2, 1000000, "an integer in 2..1000000");
    return Napi::Number::New(env, rnnx::handoff_latency_ns(static_cast<int>(n)));
  });
}

Napi::Value GetLiveObjects(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(LiveObjects()));
}

}  // namespace

// ---- init -----------------------------------------------------------------------------------

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by N-API when the environment goes away
  data->rnn_tag = RandomTypeTag();
  data->tape_tag = RandomTypeTag();
  data->stream_tag = RandomTypeTag();
  data->model_tag = RandomTypeTag();

  Napi::Function rnn = AddonRnn::Define(env);
  data->rnn_ctor = Napi::Persistent(rnn);
  data->tape_ctor = Napi::Persistent(AddonTape::Define(env));
  data->stream_ctor = Napi::Persistent(AddonStream::Define(env));
  Napi::Function model = DefineModelModule(env);
  data->model_ctor = Napi::Persistent(model);

  auto* holder = new std::shared_ptr<EnvRegistry>(data->registry);
  if (napi_add_env_cleanup_hook(
          env, [](void* arg) { CleanupHook(static_cast<std::shared_ptr<EnvRegistry>*>(arg)); }, holder) != napi_ok) {
    delete holder;
    throw Napi::Error::New(env, "rnnx: could not register the environment cleanup hook");
  }

  exports.Set("version", Napi::String::New(env, RNNX_VERSION));
  exports.Set("cpuInfo", Napi::Function::New<CpuInfo>(env, "cpuInfo"));
  exports.Set("setCpuIsa", Napi::Function::New<SetCpuIsa>(env, "setCpuIsa"));
  exports.Set("cudaProbe", Napi::Function::New<CudaProbe>(env, "cudaProbe"));
  exports.Set("setThreads", Napi::Function::New<SetThreads>(env, "setThreads"));
  exports.Set("getThreads", Napi::Function::New<GetThreads>(env, "getThreads"));
  exports.Set("liveObjects", Napi::Function::New<GetLiveObjects>(env, "liveObjects"));
  exports.Set("_fmaPeak", Napi::Function::New<FmaPeak>(env, "_fmaPeak"));
  exports.Set("_handoffNs", Napi::Function::New<HandoffNs>(env, "_handoffNs"));
  exports.Set("RnnModule", rnn);
  exports.Set("ModelModule", model);
  return exports;
}

}  // namespace rnnx::addon

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified function.
static Napi::Object RnnxInit(Napi::Env env, Napi::Object exports) { return rnnx::addon::Init(env, exports); }

NODE_API_MODULE(rnnx, RnnxInit)
