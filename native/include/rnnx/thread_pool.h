// rnnx/thread_pool.h — the process-wide compute pool (MLAS-style): parallel_for over a range, the
// calling thread taking a share. Sized by RNNX_THREADS or set_threads() (default: the cores).
//
// One parallel region at a time: a call made while another thread's region is running does its
// whole range on its own thread instead of waiting (so two modules running on two libuv workers
// never deadlock or queue behind each other). Workers spin briefly between regions, so the
// back-to-back regions of a recurrent loop (one per time step) do not pay a wake-up each.
#pragma once

#include <cstdint>
#include <functional>

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
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  ~ThreadPool();

 private:
  ThreadPool();
  struct Impl;
  Impl* impl_;
};

/// Threads to use by default: RNNX_THREADS if set (1..1024), else the hardware concurrency.
int default_threads();

}  // namespace rnnx
