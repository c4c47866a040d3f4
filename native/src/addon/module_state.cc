// module_state.cc — lifetime, busy flag, tape pool and memory accounting of one module.
#include "module_state.h"

#include "errors.h"

namespace rnnx::addon {

Dims::Dims(const rnnx::RnnConfig& c)
    : L(c.num_layers),
      D(c.dirs()),
      H(c.hidden_size),
      R(c.state_size()),
      I(c.input_size),
      lstm(c.cell == rnnx::CellType::kLstm) {}

template <typename T>
int64_t TapeBytes(const rnnx::Tape<T>& t) noexcept {
  auto cap = [](const rnnx::Buffer<T>& b) { return static_cast<int64_t>(b.capacity() * sizeof(T)); };
  int64_t n = cap(t.x0) + static_cast<int64_t>(t.lengths.capacity() * sizeof(int32_t));
  for (const auto& b : t.layer_out) n += cap(b);
  for (const auto& d : t.dirs) n += cap(d.pre) + cap(d.hprev) + cap(d.cprev) + cap(d.c);
  return n;
}
template int64_t TapeBytes<float>(const rnnx::Tape<float>&) noexcept;
template int64_t TapeBytes<double>(const rnnx::Tape<double>&) noexcept;

ModuleState::ModuleState(Napi::Env env, const rnnx::RnnConfig& cfg, DType dtype, const void* weights, int64_t count)
    : cfg_(cfg), dims_(cfg), dtype_(dtype), memory_(env), registry_(GetAddonData(env).registry) {
  if (dtype == DType::kFloat32)
    f32_ = std::make_unique<rnnx::Rnn<float>>(cfg, static_cast<const float*>(weights), count);
  else
    f64_ = std::make_unique<rnnx::Rnn<double>>(cfg, static_cast<const double*>(weights), count);
  registry_->states.insert(this);
  SyncMemory();
}

ModuleState::~ModuleState() {
  registry_->states.erase(this);
  // memory_'s destructor reports the remaining bytes as freed.
}

void ModuleState::RequireUsable(bool check_busy) const {
  if (disposed_ || released()) ThrowModuleDisposed();
  if (check_busy && busy.load(std::memory_order_acquire)) ThrowModuleBusy();
}

void ModuleState::MarkDisposed() {
  disposed_ = true;
  if (!busy.load(std::memory_order_acquire)) ReleaseNative();
}

void ModuleState::OnAsyncSettled() noexcept {
  busy.store(false, std::memory_order_release);
  if (disposed_)
    ReleaseNative();
  else
    SyncMemory();
}

void ModuleState::ReleaseNative() noexcept {
  if (busy.load(std::memory_order_acquire)) return;
  f32_.reset();
  f64_.reset();
  pool_f32_.clear();
  pool_f64_.clear();
  memory_.Set(0);
}

template <typename T>
std::unique_ptr<rnnx::Tape<T>> ModuleState::TakeTape() {
  auto& pool = [this]() -> std::vector<std::unique_ptr<rnnx::Tape<T>>>& {
    if constexpr (std::is_same_v<T, float>)
      return pool_f32_;
    else
      return pool_f64_;
  }();
  if (!pool.empty()) {
    std::unique_ptr<rnnx::Tape<T>> t = std::move(pool.back());
    pool.pop_back();
    SyncMemory();  // the tape's bytes move to the tape object's own account
    return t;
  }
  return std::make_unique<rnnx::Tape<T>>();
}

template <typename T>
void ModuleState::ReturnTape(std::unique_ptr<rnnx::Tape<T>> tape) noexcept {
  if (!tape) return;
  auto& pool = [this]() -> std::vector<std::unique_ptr<rnnx::Tape<T>>>& {
    if constexpr (std::is_same_v<T, float>)
      return pool_f32_;
    else
      return pool_f64_;
  }();
  if (disposed_ || released() || pool.size() >= kMaxPooledTapes) return;  // `tape` frees itself
  tape->valid = false;  // a pooled tape never feeds backward()
  try {
    pool.push_back(std::move(tape));
  } catch (...) {
    return;  // out of memory growing the pool: just free the tape
  }
  SyncMemory();
}

template std::unique_ptr<rnnx::Tape<float>> ModuleState::TakeTape<float>();
template std::unique_ptr<rnnx::Tape<double>> ModuleState::TakeTape<double>();
template void ModuleState::ReturnTape<float>(std::unique_ptr<rnnx::Tape<float>>) noexcept;
template void ModuleState::ReturnTape<double>(std::unique_ptr<rnnx::Tape<double>>) noexcept;

int64_t ModuleState::native_bytes() const noexcept {
  int64_t n = 0;
  if (f32_) n += f32_->native_bytes();
  if (f64_) n += f64_->native_bytes();
  for (const auto& t : pool_f32_) n += TapeBytes(*t);
  for (const auto& t : pool_f64_) n += TapeBytes(*t);
  return n;
}

void ModuleState::SyncMemory() noexcept {
  // While an async forward runs, the worker thread may be growing the workspace: reading its
  // capacities now would race. OnAsyncSettled() syncs once the worker is done.
  if (busy.load(std::memory_order_acquire)) return;
  memory_.Set(native_bytes());
}

}  // namespace rnnx::addon
