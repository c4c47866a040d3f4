// rnnx/thread_pool.h — the process-wide compute pool (MLAS-style): parallel_for over a range, the
// calling thread taking a share. Sized by RNNX_THREADS or set_threads() (default: the cores).
//
// One parallel region at a time: a call made while another thread's region is running does its
// whole range on its own thread instead of waiting (so two modules running on two libuv workers
// never deadlock or queue behind each other). Workers spin briefly between regions, so the
// back-to-back regions of a recurrent loop (one per time step) do not pay a wake-up each.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace rnnx {

class ThreadPool {
 public:
  /// The process-wide pool.
  static ThreadPool& global();

  /// Number of threads used by parallel_for (the caller included). 1..1024. Call when idle.
  void set_threads(int n);
  int threads() const;

  /// Runs fn(begin, end) over a partition of [0, n) into at most threads() contiguous chunks
  /// (chunk boundaries are multiples of `grain`, except the last). Returns when all are done.
  /// Exceptions thrown by fn are rethrown on the calling thread (the first one).
  template <typename F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    parallel_for_fn(n, grain, std::function<void(int64_t, int64_t)>(std::ref(fn)));
  }

  /// Runs fn(member, team) on `team` threads at once, each with its own member index (the caller is
  /// member 0), team = min(want, threads()); or on the caller alone (team 1) when another thread's
  /// region holds the pool. Unlike parallel_for's chunks, the members run concurrently, so they may
  /// wait for each other (TeamBarrier): a whole recurrent sequence runs as one region, each member
  /// keeping its own slice of the weights in its own cache from step to step.
  template <typename F>
  void run_team(int want, F&& fn) {
    run_team_fn(want, std::function<void(int, int)>(std::ref(fn)));
  }

  ~ThreadPool();

 private:
  // The callable goes in by reference (the templates above): a std::function holding a closure with
  // more than a couple of captures would allocate on every call, and these run on the hot path.
  void parallel_for_fn(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  void run_team_fn(int want, const std::function<void(int, int)>& fn);
  ThreadPool();
  struct Impl;
  Impl* impl_;
};

/// A reusable barrier for the members of one run_team region. Each member publishes how many
/// barriers it has reached in a cache line of its own and waits until every other member's count
/// catches up: one cache-line transfer per partner per step, no shared counter to contend for (a
/// recurrent step at batch 1 lasts about a microsecond, so the handoff latency is the cost). Spins,
/// then yields so a descheduled member gets its core back.
class TeamBarrier {
 public:
  explicit TeamBarrier(int n);
  /// Called by every member with its member index and its own counter (starting at 0).
  void wait(int member, uint64_t& reached);

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> reached{0};
    char pad[64 - sizeof(std::atomic<uint64_t>)];
  };
  Slot inline_[4];                // teams of up to 4 need no allocation
  std::unique_ptr<Slot[]> heap_;  // larger teams
  Slot* slots_;
  int n_;
};

/// One turn of a wait loop: a pause hint for the first `spins` turns (cheap, and no sched_yield()
/// system call in a microsecond-scale handoff), then the core given away (the thread waited for may
/// have been descheduled and need it).
void spin_wait_turn(int i, int spins = 4000);

/// One-way latency of a handoff between two of the pool's threads (ns): a flag passed back and
/// forth `rounds` times by the caller and a worker, as a team member waits for another's state at
/// every recurrent step. 0 when the pool has one thread or is busy. Blocks ~rounds microseconds.
double handoff_latency_ns(int rounds);

/// Threads to use by default: RNNX_THREADS if set (1..1024), else the hardware concurrency.
int default_threads();

}  // namespace rnnx
