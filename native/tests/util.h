// util.h — shared helpers of the native tests: a deterministic RNG and array comparisons.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace rnnx_test {

/// SplitMix64: deterministic across platforms and compilers (std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [lo, hi).
  double uniform(double lo = -1, double hi = 1) {
    return lo + (hi - lo) * (static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0));
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  template <typename T>
  std::vector<T> vec(std::size_t n, double lo = -1, double hi = 1) {
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(uniform(lo, hi));
    return v;
  }
  template <typename Buf>
  void fill(Buf& b, double lo = -1, double hi = 1) {
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::remove_reference_t<decltype(b[0])>>(uniform(lo, hi));
  }

 private:
  uint64_t s_;
};

/// max|got - want| / max(max|want|, floor): the relative error of a whole tensor (the project's
/// definition, DESIGN.md). NaN anywhere gives +inf; a size mismatch gives +inf.
template <typename A, typename B>
double tensor_rel_err(const A& got, const B& want, std::size_t n, double floor = 1e-30) {
  double maxdiff = 0, maxref = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (std::isnan(g) || std::isnan(w)) return std::numeric_limits<double>::infinity();
    maxdiff = std::max(maxdiff, std::fabs(g - w));
    maxref = std::max(maxref, std::fabs(w));
  }
  return maxdiff / std::max(maxref, floor);
}

/// Index of the element with the largest |got - want| (for messages).
template <typename A, typename B>
std::size_t worst_index(const A& got, const B& want, std::size_t n) {
  std::size_t k = 0;
  double worst = -1;
  for (std::size_t i = 0; i < n; ++i) {
    double d = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    if (std::isnan(d)) return i;
    if (d > worst) worst = d, k = i;
  }
  return k;
}

}  // namespace rnnx_test
