// addon_data.h — what every addon file shares: the napi.h include (with the addon's settings),
// the per-environment instance data, the live-object counter and external-memory accounting.
//
// Threads: everything here runs on the JS (main or worker_threads) thread of one environment,
// except the process-wide atomic counters, which any thread may touch.
#pragma once

// During worker.terminate() / process exit, N-API calls made from a completing async worker fail
// with "pending exception" although no exception is pending. Without this, node-addon-api turns
// that into a fatal error (abort). With it, the error is swallowed and the worker simply settles
// nothing, which is what we want while the environment is going away.
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_set>

namespace rnnx::addon {

class ModuleState;

/// Module states alive in one environment, so the env cleanup hook can free their native memory
/// even if finalizers never run. Shared (shared_ptr) by the instance data and every ModuleState,
/// so neither can outlive the other's view of it. JS thread only.
struct EnvRegistry {
  std::unordered_set<ModuleState*> states;
  bool closing = false;  // the environment is shutting down
};

/// Per-environment instance data (napi_set_instance_data): one per main thread / worker thread
/// that loads the addon. Holds the class constructors and the type tags; nothing here is a
/// process-wide global, so several environments never share N-API values.
struct AddonData {
  Napi::FunctionReference rnn_ctor;
  Napi::FunctionReference tape_ctor;
  Napi::FunctionReference stream_ctor;
  Napi::FunctionReference model_ctor;
  // Random per load (see RandomTypeTag in addon.cc): an object wrapped by another copy of the
  // addon (another .node file, or another environment) never passes a tag check here, so
  // unwrapping it cannot reinterpret someone else's pointer.
  napi_type_tag rnn_tag{};
  napi_type_tag tape_tag{};
  napi_type_tag stream_tag{};
  napi_type_tag model_tag{};
  std::shared_ptr<EnvRegistry> registry = std::make_shared<EnvRegistry>();
};

/// The instance data of `env` (set by addon.cc at load). JS thread.
AddonData& GetAddonData(Napi::Env env);

/// Live native objects (module states, held tapes, streams) in the whole process.
int64_t LiveObjects() noexcept;
void AddLiveObjects(int64_t delta) noexcept;

/// Async workers queued and not yet settled, in the whole process (setCpuIsa refuses to swap
/// kernel tables under them).
int64_t AsyncInFlight() noexcept;
void AddAsyncInFlight(int64_t delta) noexcept;

/// Counts one live native object for as long as it exists.
class LiveToken {
 public:
  LiveToken() noexcept { AddLiveObjects(1); }
  ~LiveToken() { AddLiveObjects(-1); }
  LiveToken(const LiveToken&) = delete;
  LiveToken& operator=(const LiveToken&) = delete;
};

/// Native bytes reported to V8 (Napi::MemoryManagement::AdjustExternalMemory) for one owner, so
/// that heap pressure reflects native memory and the GC runs finalizers in time. Set(n) reports
/// the difference from the last value; the destructor reports -n. JS thread only (finalizers
/// included). Never throws.
class ExternalMemory {
 public:
  explicit ExternalMemory(napi_env env) noexcept : env_(env) {}
  ~ExternalMemory() { Set(0); }
  ExternalMemory(const ExternalMemory&) = delete;
  ExternalMemory& operator=(const ExternalMemory&) = delete;

  void Set(int64_t bytes) noexcept;
  int64_t bytes() const noexcept { return bytes_; }

 private:
  napi_env env_;
  int64_t bytes_ = 0;
};

}  // namespace rnnx::addon
