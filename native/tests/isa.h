// isa.h — the CPU kernel variants a test can select: compiled into this binary AND supported by
// this CPU (dispatch.h's supported_isas() may list what the CPU has even when not compiled).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "cpu/dispatch.h"

namespace rnnx_test {

inline std::vector<std::string> usable_isas() {
  const auto compiled = rnnx::cpu::compiled_isas();
  std::vector<std::string> out;
  for (const auto& s : rnnx::cpu::supported_isas())
    if (std::find(compiled.begin(), compiled.end(), s) != compiled.end()) out.push_back(s);
  return out;
}

}  // namespace rnnx_test
