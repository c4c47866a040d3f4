// thread_pool.cc — see rnnx/thread_pool.h.
#include "rnnx/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "rnnx/status.h"

namespace rnnx {

namespace {
// A short busy-wait hint: lets the sibling hyperthread run and saves power, without the
// microsecond-scale cost of a sched_yield() system call in the per-time-step handoff.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#else
  std::this_thread::yield();
#endif
}
}  // namespace

int default_threads() {
  if (const char* e = std::getenv("RNNX_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(e, &end, 10);
    if (end != e && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc > 1024 ? 1024 : hc);
}

struct ThreadPool::Impl {
  std::mutex region;  // held by the thread running a parallel region
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::thread> workers;
  int nthreads = 1;
  bool stop = false;

  // current region
  std::atomic<uint64_t> generation{0};
  // Written by the region's caller before `next` is released; read by workers after acquiring it.
  std::atomic<const std::function<void(int64_t, int64_t)>*> fn{nullptr};
  std::atomic<int64_t> n{0}, chunk{0};
  std::atomic<int> chunks{0};
  std::atomic<int> next{0};
  std::atomic<int> pending{0};
  std::exception_ptr error;
  std::mutex error_m;

  void run_chunks() {
    for (;;) {
      int c = next.fetch_add(1, std::memory_order_acq_rel);
      if (c >= chunks.load(std::memory_order_relaxed)) return;
      const int64_t ck = chunk.load(std::memory_order_relaxed);
      int64_t b = c * ck, e = std::min<int64_t>(n.load(std::memory_order_relaxed), b + ck);
      try {
        (*fn.load(std::memory_order_relaxed))(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_m);
        if (!error) error = std::current_exception();
      }
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  // `seen`: the generation when the pool started this worker. Read by start(), not by the new thread:
  // a region dispatched before the thread first ran would otherwise count as already seen, and a
  // run_team member would wait for a worker that never comes.
  void worker_main(uint64_t seen) {
    for (;;) {
      // spin a little for the next region, then sleep
      auto t0 = std::chrono::steady_clock::now();
      bool got = false;
      for (int i = 0;; ++i) {
        if (generation.load(std::memory_order_acquire) != seen) {
          got = true;
          break;
        }
        if ((i & 255) == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(300)) break;
        cpu_relax();
      }
      if (!got) {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return stop || generation.load(std::memory_order_acquire) != seen; });
        if (stop) return;
      }
      seen = generation.load(std::memory_order_acquire);
      run_chunks();
    }
  }

  // Hands `nchunks` chunks of `per` indices of [0, n) to the workers (the caller takes part) and
  // waits for all of them; the caller holds the region lock.
  void dispatch(int64_t total, int64_t per, int nchunks, const std::function<void(int64_t, int64_t)>& f) {
    fn.store(&f, std::memory_order_relaxed);
    n.store(total, std::memory_order_relaxed);
    chunk.store(per, std::memory_order_relaxed);
    chunks.store(nchunks, std::memory_order_relaxed);
    error = nullptr;
    pending.store(nchunks, std::memory_order_relaxed);
    next.store(0, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(m);
      generation.fetch_add(1, std::memory_order_acq_rel);
    }
    cv.notify_all();
    run_chunks();
    for (int i = 0; pending.load(std::memory_order_acquire) > 0; ++i) spin_wait_turn(i, 20000);
    if (error) std::rethrow_exception(error);
  }

  void start(int n_threads) {
    stop_all();
    nthreads = n_threads;
    stop = false;
    const uint64_t g0 = generation.load(std::memory_order_acquire);
    for (int i = 1; i < nthreads; ++i) workers.emplace_back([this, g0] { worker_main(g0); });
  }

  void stop_all() {
    {
      std::lock_guard<std::mutex> lk(m);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }
};

ThreadPool::ThreadPool() : impl_(new Impl) { impl_->start(default_threads()); }

ThreadPool::~ThreadPool() {
  impl_->stop_all();
  delete impl_;
}

ThreadPool& ThreadPool::global() {
  // Leaked on purpose: worker threads must not be joined during static destruction (at process
  // exit other static objects they might touch can already be gone).
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

void ThreadPool::set_threads(int n) {
  if (n < 1 || n > 1024) throw Error(Code::kInvalidArgument, "threads: expected an integer in 1..1024 but received " + std::to_string(n));
  std::lock_guard<std::mutex> g(impl_->region);
  if (n != impl_->nthreads) impl_->start(n);
}

int ThreadPool::threads() const { return impl_->nthreads; }

void ThreadPool::parallel_for_fn(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  Impl& p = *impl_;
  std::unique_lock<std::mutex> region(p.region, std::try_to_lock);
  const int64_t units = (n + grain - 1) / grain;
  if (!region.owns_lock() || p.nthreads <= 1 || units <= 1) {
    fn(0, n);
    return;
  }
  const int64_t parts = std::min<int64_t>(units, p.nthreads);
  const int64_t per = ((units + parts - 1) / parts) * grain;
  p.dispatch(n, per, static_cast<int>((n + per - 1) / per), fn);
}

void ThreadPool::run_team_fn(int want, const std::function<void(int, int)>& fn) {
  Impl& p = *impl_;
  const int team = std::min(want, p.nthreads);
  if (team <= 1) {  // without holding the pool: work inside may still use it
    fn(0, 1);
    return;
  }
  std::unique_lock<std::mutex> region(p.region, std::try_to_lock);
  if (!region.owns_lock()) {
    fn(0, 1);
    return;
  }
  // One chunk per member. Every chunk gets its own thread: a member blocked in a barrier cannot take
  // a second chunk, and the pool has at least `team` threads, all free (the region lock is ours).
  auto body = [&](int64_t b, int64_t) { fn(static_cast<int>(b), team); };
  p.dispatch(team, 1, team, std::function<void(int64_t, int64_t)>(std::ref(body)));
}

void spin_wait_turn(int i, int spins) {
  if (i < spins)
    cpu_relax();
  else
    std::this_thread::yield();
}

TeamBarrier::TeamBarrier(int n) : n_(n < 1 ? 1 : n) {
  if (n_ > 4) heap_.reset(new Slot[static_cast<size_t>(n_)]);
  slots_ = heap_ ? heap_.get() : inline_;
}

void TeamBarrier::wait(int member, uint64_t& reached) {
  ++reached;
  slots_[static_cast<size_t>(member)].reached.store(reached, std::memory_order_release);
  for (int o = 0; o < n_; ++o) {
    if (o == member) continue;
    const std::atomic<uint64_t>& r = slots_[static_cast<size_t>(o)].reached;
    // spin about as long as a long step's imbalance, then give the core away: a partner the OS has
    // descheduled may need it
    for (int i = 0; r.load(std::memory_order_acquire) < reached; ++i) spin_wait_turn(i);
  }
}

double handoff_latency_ns(int rounds) {
  if (rounds < 1) rounds = 1;
  struct alignas(64) Flag {
    std::atomic<int64_t> v{0};
    char pad[64 - sizeof(std::atomic<int64_t>)];
  };
  Flag ping, pong;
  double ns = 0;
  bool two = false;
  ThreadPool::global().run_team(2, [&](int member, int members) {
    if (members < 2) return;
    two = true;
    if (member == 1) {
      for (int64_t i = 1; i <= rounds; ++i) {
        for (int k = 0; ping.v.load(std::memory_order_acquire) < i; ++k) spin_wait_turn(k);
        pong.v.store(i, std::memory_order_release);
      }
      return;
    }
    // (both members are running once the first round trip is done: it is not timed)
    ping.v.store(1, std::memory_order_release);
    for (int k = 0; pong.v.load(std::memory_order_acquire) < 1; ++k) spin_wait_turn(k);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 2; i <= rounds; ++i) {
      ping.v.store(i, std::memory_order_release);
      for (int k = 0; pong.v.load(std::memory_order_acquire) < i; ++k) spin_wait_turn(k);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ns = rounds > 1 ? s * 1e9 / (2.0 * (rounds - 1)) : 0;
  });
  return two ? ns : 0;
}

}  // namespace rnnx
