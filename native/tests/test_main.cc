// test_main.cc — the runner of the native tests.
//
//   rnnx_tests                 every test
//   rnnx_tests SUITE|SUITE.NAME ...   the named suites / tests (CTest runs one suite per test file)
//   rnnx_tests --list          the test names
//
// Prints one line per test and closes with "N passed, N failed"; exits 1 when a test failed or
// when nothing matched (a typo in a filter must not pass silently).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "test.h"

namespace {

bool matches(const rnnx_test::TestCase& t, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  const std::string full = std::string(t.suite) + "." + t.name;
  for (const auto& f : filters)
    if (f == t.suite || f == full) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> filters;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--list") == 0)
      list = true;
    else
      filters.emplace_back(argv[i]);
  }
  // Unbuffered so a crash (a guard-page fault, a sanitizer report) shows which test was running.
  std::setvbuf(stdout, nullptr, _IONBF, 0);

  int passed = 0, failed = 0;
  std::vector<std::string> failed_names;
  for (const auto& t : rnnx_test::registry()) {
    if (!matches(t, filters)) continue;
    const std::string full = std::string(t.suite) + "." + t.name;
    if (list) {
      std::printf("%s\n", full.c_str());
      continue;
    }
    rnnx_test::failures() = 0;
    rnnx_test::current() = full;
    std::printf("[ RUN  ] %s\n", full.c_str());
    auto start = std::chrono::steady_clock::now();
    try {
      t.fn();
    } catch (const rnnx_test::Abort&) {
      // already reported
    } catch (const rnnx::Error& e) {
      rnnx_test::report(t.suite, 0, std::string("uncaught rnnx::Error ") + rnnx::code_name(e.code()) +
                                        ": " + e.what());
    } catch (const std::exception& e) {
      rnnx_test::report(t.suite, 0, std::string("uncaught exception: ") + e.what());
    } catch (...) {
      rnnx_test::report(t.suite, 0, "uncaught non-standard exception");
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (rnnx_test::failures() == 0) {
      ++passed;
      std::printf("[  OK  ] %s (%.0f ms)\n", full.c_str(), ms);
    } else {
      ++failed;
      failed_names.push_back(full);
      std::printf("[ FAIL ] %s (%d failed checks, %.0f ms)\n", full.c_str(), rnnx_test::failures(), ms);
    }
  }
  if (list) return 0;
  for (const auto& n : failed_names) std::printf("FAILED: %s\n", n.c_str());
  std::printf("%d passed, %d failed\n", passed, failed);
  if (passed + failed == 0) {
    std::fprintf(stderr, "no test matched the filters\n");
    return 1;
  }
  return failed == 0 ? 0 : 1;
}
