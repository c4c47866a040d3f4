// test.h — a tiny test framework for the native tests (no dependencies).
//
//   TEST(suite, name) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-6); CHECK_THROWS_CODE(f(), Code::kBusy); }
//
// The suite is the test file's name without "test_" (CMake registers one CTest test per file and
// the runner, test_main.cc, runs the suites named on its command line). CHECK* record a failure
// and go on; REQUIRE* end the test at the first failure. An exception escaping a test fails it.
// The runner ends with the line "N passed, N failed" and exits nonzero when anything failed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "rnnx/status.h"

namespace rnnx_test {

struct TestCase {
  const char* suite;
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Registrar {
  Registrar(const char* suite, const char* name, void (*fn)()) { registry().push_back({suite, name, fn}); }
};

/// Failures of the running test (reset by the runner before each test).
inline int& failures() {
  static int n = 0;
  return n;
}

/// Thrown by REQUIRE* to end the current test.
struct Abort {};

inline void report(const char* file, int line, const std::string& what) {
  ++failures();
  std::fprintf(stderr, "    %s:%d: FAILED: %s\n", file, line, what.c_str());
}

template <typename A>
std::string str(const A& a) {
  std::ostringstream s;
  s.precision(17);
  s << a;
  return s.str();
}

/// |a - b| / max(|a|, |b|, floor): relative error with an absolute floor so values near 0 compare
/// absolutely. NaN on either side gives +inf.
inline double rel_err(double a, double b, double floor = 1e-30) {
  if (std::isnan(a) || std::isnan(b)) return INFINITY;
  if (a == b) return 0;  // also equal infinities
  double d = std::fabs(a - b);
  double m = std::fmax(std::fmax(std::fabs(a), std::fabs(b)), floor);
  return d / m;
}

/// Current test's label, for messages of helpers.
inline std::string& current() {
  static std::string s;
  return s;
}

}  // namespace rnnx_test

#define TEST(suite, name)                                                                  \
  static void test_##suite##_##name();                                                     \
  static ::rnnx_test::Registrar registrar_##suite##_##name(#suite, #name, &test_##suite##_##name); \
  static void test_##suite##_##name()

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) ::rnnx_test::report(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_MSG(cond, msg)                                                                    \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::ostringstream rnnx_test_os_;                                                         \
      rnnx_test_os_ << "CHECK(" #cond "): " << msg;                                             \
      ::rnnx_test::report(__FILE__, __LINE__, rnnx_test_os_.str());                             \
    }                                                                                           \
  } while (0)

#define REQUIRE(cond)                                                                 \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      ::rnnx_test::report(__FILE__, __LINE__, "REQUIRE(" #cond ")");                  \
      throw ::rnnx_test::Abort{};                                                     \
    }                                                                                 \
  } while (0)

#define CHECK_EQ(a, b)                                                                             \
  do {                                                                                             \
    auto rnnx_test_a_ = (a);                                                                       \
    auto rnnx_test_b_ = (b);                                                                       \
    if (!(rnnx_test_a_ == rnnx_test_b_))                                                           \
      ::rnnx_test::report(__FILE__, __LINE__,                                                      \
                          "CHECK_EQ(" #a ", " #b "): " + ::rnnx_test::str(rnnx_test_a_) + " vs " + \
                              ::rnnx_test::str(rnnx_test_b_));                                     \
  } while (0)

/// Relative difference (floor 1e-30) at most tol.
#define CHECK_NEAR(a, b, tol)                                                                       \
  do {                                                                                              \
    double rnnx_test_a_ = static_cast<double>(a);                                                   \
    double rnnx_test_b_ = static_cast<double>(b);                                                   \
    double rnnx_test_e_ = ::rnnx_test::rel_err(rnnx_test_a_, rnnx_test_b_);                         \
    if (!(rnnx_test_e_ <= (tol)))                                                                   \
      ::rnnx_test::report(__FILE__, __LINE__,                                                       \
                          "CHECK_NEAR(" #a ", " #b ", " #tol "): " + ::rnnx_test::str(rnnx_test_a_) + \
                              " vs " + ::rnnx_test::str(rnnx_test_b_) +                             \
                              " (rel err " + ::rnnx_test::str(rnnx_test_e_) + ")");                 \
  } while (0)

/// `expr` must throw rnnx::Error with code `code`.
#define CHECK_THROWS_CODE(expr, want_code)                                                              \
  do {                                                                                             \
    bool rnnx_test_thrown_ = false;                                                                \
    try {                                                                                          \
      (void)(expr);                                                                                \
    } catch (const ::rnnx::Error& rnnx_test_e_) {                                                  \
      rnnx_test_thrown_ = true;                                                                    \
      if (rnnx_test_e_.code() != (want_code))                                                           \
        ::rnnx_test::report(__FILE__, __LINE__,                                                    \
                            std::string("CHECK_THROWS_CODE(" #expr ", " #want_code "): threw ") +       \
                                ::rnnx::code_name(rnnx_test_e_.code()) + " (" +                    \
                                rnnx_test_e_.what() + ")");                                        \
    } catch (const std::exception& rnnx_test_e_) {                                                 \
      rnnx_test_thrown_ = true;                                                                    \
      ::rnnx_test::report(__FILE__, __LINE__,                                                      \
                          std::string("CHECK_THROWS_CODE(" #expr ", " #want_code                        \
                                      "): threw a non-rnnx exception: ") +                         \
                              rnnx_test_e_.what());                                                \
    }                                                                                              \
    if (!rnnx_test_thrown_)                                                                        \
      ::rnnx_test::report(__FILE__, __LINE__, "CHECK_THROWS_CODE(" #expr ", " #want_code "): no throw"); \
  } while (0)

/// `expr` must not throw.
#define CHECK_NOTHROW(expr)                                                                      \
  do {                                                                                           \
    try {                                                                                        \
      (void)(expr);                                                                              \
    } catch (const std::exception& rnnx_test_e_) {                                               \
      ::rnnx_test::report(__FILE__, __LINE__,                                                    \
                          std::string("CHECK_NOTHROW(" #expr "): threw: ") + rnnx_test_e_.what()); \
    }                                                                                            \
  } while (0)
