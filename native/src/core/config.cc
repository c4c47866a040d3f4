// config.cc — validation of an RnnConfig and the PyTorch-named parameter list it implies.
#include <cmath>
#include <string>
#include <vector>

#include "rnnx/buffer.h"
#include "rnnx/cell.h"
#include "rnnx/rnn.h"
#include "rnnx/status.h"

namespace rnnx {
namespace {

// Limits that keep every derived size far from overflow while allowing any realistic model.
constexpr int64_t kMaxWidth = int64_t(1) << 24;  // 16M units per layer
constexpr int64_t kMaxLayers = 1024;

[[noreturn]] void bad(const std::string& field, const std::string& expected, const std::string& got) {
  throw Error(Code::kInvalidArgument, "config." + field + ": expected " + expected + " but received " + got);
}

void check_act(const ActSpec& a, const char* name) {
  int k = static_cast<int>(a.kind);
  if (k < 0 || k >= kActivationCount) bad(name, "an activation id in 0..10", std::to_string(k));
  if (!std::isfinite(a.alpha) || !std::isfinite(a.beta))
    bad(std::string(name) + ".alpha/beta", "finite numbers", "a non-finite value");
}

}  // namespace

void validate_config(const RnnConfig& c) {
  int cell = static_cast<int>(c.cell);
  if (cell < 0 || cell > 2) bad("cell", "rnn, lstm or gru", std::to_string(cell));
  if (c.input_size < 1 || c.input_size > kMaxWidth)
    bad("inputSize", "an integer in 1..2^24", std::to_string(c.input_size));
  if (c.hidden_size < 1 || c.hidden_size > kMaxWidth)
    bad("hiddenSize", "an integer in 1..2^24", std::to_string(c.hidden_size));
  if (c.num_layers < 1 || c.num_layers > kMaxLayers)
    bad("numLayers", "an integer in 1..1024", std::to_string(c.num_layers));
  if (c.proj_size < 0) bad("projSize", "0 (none) or a positive integer", std::to_string(c.proj_size));
  if (c.proj_size > 0) {
    if (c.cell != CellType::kLstm) bad("projSize", "0 for a non-LSTM cell", std::to_string(c.proj_size));
    if (c.proj_size >= c.hidden_size)
      bad("projSize", "less than hiddenSize (" + std::to_string(c.hidden_size) + ")", std::to_string(c.proj_size));
  }
  if ((c.peepholes || c.input_forget) && c.cell != CellType::kLstm)
    bad(c.peepholes ? "peepholes" : "inputForget", "false for a non-LSTM cell", "true");
  if (!(c.clip >= 0) || !std::isfinite(c.clip)) bad("clip", "a finite number >= 0", "a negative or non-finite value");
  check_act(c.f, "activations[0]");
  check_act(c.g, "activations[1]");
  check_act(c.h, "activations[2]");
  // Sizes of every parameter must be representable.
  int64_t G = c.gates();
  checked_mul({G, c.hidden_size, std::max(c.input_size, c.output_size())}, "config: weight_ih");
  checked_mul({G, c.hidden_size, c.state_size(), c.num_layers, c.dirs(), 4}, "config: weights");
}

std::vector<ParamSpec> param_specs(const RnnConfig& c) {
  validate_config(c);
  std::vector<ParamSpec> out;
  const int64_t G = c.gates(), H = c.hidden_size, R = c.state_size();
  int64_t off = 0;
  auto push = [&](std::string name, ParamKind k, int l, int d, int64_t rows, int64_t cols) {
    int64_t size = checked_mul({rows, cols > 0 ? cols : 1}, "config: parameter");
    out.push_back(ParamSpec{std::move(name), k, l, d, rows, cols, off, size});
    off += size;
    if (off > kMaxElements) throw Error(Code::kOutOfMemory, "config: total parameter count overflows");
  };
  for (int l = 0; l < c.num_layers; ++l) {
    for (int d = 0; d < c.dirs(); ++d) {
      std::string sfx = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      push("weight_ih" + sfx, ParamKind::kWeightIh, l, d, G * H, c.layer_input_size(l));
      push("weight_hh" + sfx, ParamKind::kWeightHh, l, d, G * H, R);
      if (c.bias) {
        push("bias_ih" + sfx, ParamKind::kBiasIh, l, d, G * H, 0);
        push("bias_hh" + sfx, ParamKind::kBiasHh, l, d, G * H, 0);
      }
      if (c.proj_size > 0) push("weight_hr" + sfx, ParamKind::kWeightHr, l, d, c.proj_size, H);
      if (c.peepholes) push("weight_p" + sfx, ParamKind::kPeephole, l, d, 3 * H, 0);
    }
  }
  return out;
}

}  // namespace rnnx
