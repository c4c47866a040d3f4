// guard_buffer.h — test buffers whose ends fault on overrun (the MLAS MatrixGuardBuffer idea).
//
// GuardBuffer<T> b(n) maps fresh pages and places the n elements at the very END of the readable
// region, directly followed by a PROT_NONE page: any read or write past element n-1 (a vector
// tail that loads 8 floats where 3 remain, an off-by-one row) faults at once instead of silently
// reading neighbouring memory. With Guard::kFront the data starts right after a PROT_NONE page
// instead, catching underruns. Contents start as NaN (floating T) so a kernel that reads memory it
// was meant to overwrite shows up as NaN in the result.
//
// The data pointer is aligned only to alignof(T) — on purpose: caller buffers handed to the core
// need not be 64-byte aligned, and kernels must cope.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace rnnx_test {

enum class Guard { kBack, kFront };

template <typename T>
class GuardBuffer {
 public:
  explicit GuardBuffer(std::size_t n, Guard side = Guard::kBack) : n_(n) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t bytes = n * sizeof(T);
    data_bytes_ = (bytes + page - 1) / page * page;
    if (data_bytes_ == 0) data_bytes_ = page;
    map_bytes_ = data_bytes_ + page;
    void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<unsigned char*>(p);
    if (side == Guard::kBack) {
      if (mprotect(base_ + data_bytes_, page, PROT_NONE) != 0) throw std::runtime_error("mprotect");
      data_ = reinterpret_cast<T*>(base_ + data_bytes_ - bytes);
    } else {
      if (mprotect(base_, page, PROT_NONE) != 0) throw std::runtime_error("mprotect");
      data_ = reinterpret_cast<T*>(base_ + page);
    }
    fill_nan();
  }
  GuardBuffer(const std::vector<T>& v, Guard side = Guard::kBack) : GuardBuffer(v.size(), side) {
    if (!v.empty()) std::memcpy(data_, v.data(), v.size() * sizeof(T));
  }
  ~GuardBuffer() {
    if (base_) munmap(base_, map_bytes_);
  }
  GuardBuffer(const GuardBuffer&) = delete;
  GuardBuffer& operator=(const GuardBuffer&) = delete;
  GuardBuffer(GuardBuffer&& o) noexcept { *this = std::move(o); }
  GuardBuffer& operator=(GuardBuffer&& o) noexcept {
    if (this != &o) {
      if (base_) munmap(base_, map_bytes_);
      base_ = o.base_;
      data_ = o.data_;
      n_ = o.n_;
      data_bytes_ = o.data_bytes_;
      map_bytes_ = o.map_bytes_;
      o.base_ = nullptr;
      o.data_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + n_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + n_; }

  void fill(T v) {
    for (std::size_t i = 0; i < n_; ++i) data_[i] = v;
  }
  void fill_nan() {
    if constexpr (std::is_floating_point_v<T>)
      fill(std::numeric_limits<T>::quiet_NaN());
    else
      fill(T(0));
  }
  void assign(const std::vector<T>& v) {
    if (v.size() != n_) throw std::length_error("GuardBuffer::assign: size");
    if (n_) std::memcpy(data_, v.data(), n_ * sizeof(T));
  }
  std::vector<T> to_vector() const { return std::vector<T>(data_, data_ + n_); }

 private:
  unsigned char* base_ = nullptr;
  T* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t data_bytes_ = 0;
  std::size_t map_bytes_ = 0;
};

}  // namespace rnnx_test
