// rnnx/buffer.h — owning, 64-byte-aligned, zero-initialised buffers and overflow-checked sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "rnnx/status.h"

namespace rnnx {

/// Allocator with 64-byte alignment (one cache line, one AVX-512 vector) so SIMD kernels can
/// use aligned loads on buffers the core owns. Allocation failure surfaces as std::bad_alloc,
/// which the core converts to Error(kOutOfMemory).
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlign = 64;
  AlignedAllocator() noexcept = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlign)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kAlign)); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept { return false; }
};

template <typename T>
using Buffer = std::vector<T, AlignedAllocator<T>>;

/// Largest element count of one buffer the core will allocate (2^40 elements). Sizes above it are
/// a caller error (or an allocation bomb in a model file), reported before anything is allocated.
constexpr int64_t kMaxElements = int64_t(1) << 40;

/// a * b * ..., throwing Error(kOutOfMemory) naming `what` if the product overflows kMaxElements.
inline int64_t checked_mul(std::initializer_list<int64_t> dims, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw Error(Code::kInvalidArgument, std::string(what) + ": negative dimension");
    if (d != 0 && n > kMaxElements / d)
      throw Error(Code::kOutOfMemory, std::string(what) + ": size overflows the 2^40-element limit");
    n *= d;
  }
  return n;
}

/// Resizes `b` to at least n elements (never shrinks capacity; contents unspecified).
template <typename T>
void ensure_size(Buffer<T>& b, int64_t n) {
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<std::size_t>(n));
}

}  // namespace rnnx
