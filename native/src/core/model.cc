// model.cc — SeqModel: the sequential model's forward pass, loss, BPTT and optimizer (see
// rnnx/model.h).
#include "rnnx/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "../cpu/dispatch.h"
#include "rnnx/thread_pool.h"

namespace rnnx {
namespace {

[[noreturn]] void bad_layer(size_t i, const std::string& what) {
  throw Error(Code::kInvalidArgument, "layers[" + std::to_string(i) + "]: " + what);
}

constexpr int64_t kMaxWidth = int64_t(1) << 24;

// splitmix64 finaliser: the counter-based generator behind dropout masks (a mask is a pure
// function of seed, step, node and element, so a resumed run draws the same masks).
inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

template <typename T>
inline T act_fwd(DenseAct a, T x) {
  switch (a) {
    case DenseAct::kRelu: return x > T(0) ? x : T(0);
    case DenseAct::kTanh: return std::tanh(x);
    case DenseAct::kSigmoid: return T(1) / (T(1) + std::exp(-x));
    default: return x;
  }
}
// Derivative from the activation's output y.
template <typename T>
inline T act_grad(DenseAct a, T y) {
  switch (a) {
    case DenseAct::kRelu: return y > T(0) ? T(1) : T(0);
    case DenseAct::kTanh: return T(1) - y * y;
    case DenseAct::kSigmoid: return y * (T(1) - y);
    default: return T(1);
  }
}

}  // namespace

template <typename T>
struct SeqModel<T>::Impl {
  struct Node {
    LayerType type;
    size_t layer;          // index in spec.layers
    bool seq_in, seq_out;  // [T, B, F] sequences, else [B, F] vectors
    int64_t in_w = 0, out_w = 0;
    // embedding / dense: offsets in `own`
    int64_t w_off = -1, b_off = -1;
    int64_t V = 0, pad = -1;
    double p = 0;                 // dropout
    std::unique_ptr<Rnn<T>> rnn;  // recurrent (one layer)
    std::unique_ptr<Tape<T>> tape;
    // offsets of the node's parameters (weight; dense bias) in the flat order = in the gradient
    int64_t grad_off = 0, grad_b_off = -1;
    int dirs = 1;                 // pool 'last': directions of the preceding recurrent layer
    PoolMode pool = PoolMode::kLast;
    DenseAct act = DenseAct::kNone;
    Buffer<T> mask;               // dropout
    Buffer<int32_t> argmax;       // pool max
  };
  // A parameter tensor's storage: `node` < 0 → own + off; else nodes[node].rnn weights + off.
  struct Seg {
    int node;
    int64_t off, size, flat;
    bool decay;
  };
  std::vector<Node> nodes;
  std::vector<Seg> segs;
  Buffer<T> own;
  std::vector<Buffer<T>> acts;  // acts[i] = input of node i, acts[n] = model output (time-major)
  Buffer<T> g0, g1;             // backward ping-pong
  Buffer<T> grad, m, v, ema;
  std::vector<int32_t> lens;
  int64_t B = 0, Tn = 0;

  T* seg_ptr(const Seg& s) { return s.node < 0 ? own.data() + s.off : nodes[s.node].rnn->mutable_weights() + s.off; }
  const T* seg_ptr(const Seg& s) const {
    return s.node < 0 ? own.data() + s.off : nodes[s.node].rnn->weights() + s.off;
  }
  int64_t rows(const Node& n) const { return n.seq_out ? Tn * B : B; }
};

template <typename T>
SeqModel<T>::SeqModel(const ModelSpec& spec, const T* params, int64_t count) : impl_(new Impl), spec_(spec) {
  Impl& I = *impl_;
  if (spec.layers.empty()) throw Error(Code::kInvalidArgument, "layers: expected at least one layer, got none");
  if (spec.layers.size() > 4096) throw Error(Code::kInvalidArgument, "layers: more than 4096 layers");
  bool seq = true;
  int64_t width = 0;
  int last_dirs = 1;
  if (spec.ids_input) {
    if (spec.layers[0].type != LayerType::kEmbedding)
      throw Error(Code::kInvalidArgument, "layers[0]: a model with ids input must start with an embedding layer");
  } else {
    if (spec.feature_size < 1 || spec.feature_size > kMaxWidth)
      throw Error(Code::kInvalidArgument, "input.size: expected an integer in 1..2^24, got " +
                                              std::to_string(spec.feature_size));
    width = spec.feature_size;
  }
  int64_t own_size = 0, flat = 0;
  auto add_own = [&](const std::string& name, std::vector<int64_t> shape, bool decay) {
    int64_t n = 1;
    for (int64_t d : shape) n = checked_mul({n, d}, "model parameters");
    params_.push_back(ModelParam{name, shape, flat, n, decay});
    I.segs.push_back(typename Impl::Seg{-1, own_size, n, flat, decay});
    own_size += n;
    flat += n;
    if (flat > kMaxElements) throw Error(Code::kOutOfMemory, "model parameters: more than 2^40 elements");
  };
  for (size_t li = 0; li < spec.layers.size(); ++li) {
    const LayerSpec& L = spec.layers[li];
    typename Impl::Node n;
    n.type = L.type;
    n.layer = li;
    n.seq_in = seq;
    n.in_w = width;
    switch (L.type) {
      case LayerType::kEmbedding: {
        if (li != 0 || !spec.ids_input) bad_layer(li, "an embedding layer may only come first, on ids input");
        if (L.num_embeddings < 1 || L.num_embeddings > (int64_t(1) << 31) - 1)
          bad_layer(li, "num_embeddings must be in 1..2^31-1, got " + std::to_string(L.num_embeddings));
        if (L.embedding_dim < 1 || L.embedding_dim > kMaxWidth)
          bad_layer(li, "embedding_dim must be in 1..2^24, got " + std::to_string(L.embedding_dim));
        if (L.padding_idx < -1 || L.padding_idx >= L.num_embeddings)
          bad_layer(li, "padding_idx must be -1 or in 0..num_embeddings-1, got " + std::to_string(L.padding_idx));
        n.V = L.num_embeddings;
        n.pad = L.padding_idx;
        n.w_off = own_size;
        n.grad_off = flat;
        add_own(L.name + ".weight", {L.num_embeddings, L.embedding_dim}, true);
        width = L.embedding_dim;
        n.out_w = width;
        n.seq_out = true;
        I.nodes.push_back(std::move(n));
        break;
      }
      case LayerType::kDropout: {
        if (!(L.p >= 0 && L.p < 1)) bad_layer(li, "dropout p must be in [0, 1)");
        n.p = L.p;
        n.out_w = width;
        n.seq_out = seq;
        I.nodes.push_back(std::move(n));
        break;
      }
      case LayerType::kRecurrent: {
        if (!seq) bad_layer(li, "a recurrent layer needs a sequence input (it comes after a pool)");
        if (!(L.p >= 0 && L.p < 1)) bad_layer(li, "dropout must be in [0, 1)");
        RnnConfig c = L.rnn;
        if (c.num_layers < 1 || c.num_layers > 1024)
          bad_layer(li, "num_layers must be in 1..1024, got " + std::to_string(c.num_layers));
        const int64_t stack = c.num_layers;
        for (int64_t k = 0; k < stack; ++k) {
          if (k > 0 && L.p > 0) {
            typename Impl::Node d;
            d.type = LayerType::kDropout;
            d.layer = li;
            d.seq_in = d.seq_out = true;
            d.in_w = d.out_w = width;
            d.p = L.p;
            I.nodes.push_back(std::move(d));
          }
          RnnConfig one = c;
          one.num_layers = 1;
          one.input_size = width;
          one.batch_first = false;
          std::vector<ParamSpec> ps;
          try {
            ps = param_specs(one);
          } catch (const Error& e) {
            bad_layer(li, e.message());
          }
          typename Impl::Node r;
          r.type = LayerType::kRecurrent;
          r.layer = li;
          r.seq_in = r.seq_out = true;
          r.in_w = width;
          r.grad_off = flat;
          const int node_index = static_cast<int>(I.nodes.size());
          int64_t rnn_size = 0;
          for (const ParamSpec& p : ps) {
            std::string nm = p.name;
            size_t at = nm.find("_l0");
            if (at != std::string::npos) nm.replace(at, 3, "_l" + std::to_string(k));
            std::vector<int64_t> shape = p.cols > 0 ? std::vector<int64_t>{p.rows, p.cols} : std::vector<int64_t>{p.rows};
            params_.push_back(ModelParam{L.name + "." + nm, shape, flat, p.size, p.cols > 0});
            I.segs.push_back(typename Impl::Seg{node_index, p.offset, p.size, flat, p.cols > 0});
            flat += p.size;
            rnn_size += p.size;
          }
          if (flat > kMaxElements) throw Error(Code::kOutOfMemory, "model parameters: more than 2^40 elements");
          // Weights are set below, once the whole flat buffer has been checked.
          Buffer<T> zeros(static_cast<size_t>(rnn_size));
          r.rnn.reset(new Rnn<T>(one, zeros.data(), rnn_size));
          r.tape.reset(new Tape<T>());
          width = one.output_size();
          r.out_w = width;
          last_dirs = one.dirs();
          I.nodes.push_back(std::move(r));
        }
        break;
      }
      case LayerType::kPool: {
        if (!seq) bad_layer(li, "a pool layer needs a sequence input (there is an earlier pool)");
        int m = static_cast<int>(L.pool);
        if (m < 0 || m > 3) bad_layer(li, "pool mode must be last, mean, max or meanmax");
        n.pool = L.pool;
        n.dirs = last_dirs;
        if (n.pool == PoolMode::kLast && width % last_dirs != 0) bad_layer(li, "pool 'last': width is not divisible by the directions");
        width = n.pool == PoolMode::kMeanMax ? 2 * width : width;
        seq = false;
        n.out_w = width;
        n.seq_out = false;
        I.nodes.push_back(std::move(n));
        break;
      }
      case LayerType::kDense: {
        if (L.in_features != width)
          bad_layer(li, "dense in_features is " + std::to_string(L.in_features) + " but its input has width " +
                            std::to_string(width));
        if (L.out_features < 1 || L.out_features > kMaxWidth)
          bad_layer(li, "dense out_features must be in 1..2^24, got " + std::to_string(L.out_features));
        int a = static_cast<int>(L.act);
        if (a < 0 || a > 3) bad_layer(li, "dense activation must be none, relu, tanh or sigmoid");
        n.act = L.act;
        n.w_off = own_size;
        n.grad_off = flat;
        add_own(L.name + ".weight", {L.out_features, L.in_features}, true);
        if (L.bias) {
          n.b_off = own_size;
          n.grad_b_off = flat;
          add_own(L.name + ".bias", {L.out_features}, false);
        }
        width = L.out_features;
        n.out_w = width;
        n.seq_out = seq;
        last_dirs = 1;  // a dense layer mixes the directions: a later 'last' pool takes the final step
        I.nodes.push_back(std::move(n));
        break;
      }
      case LayerType::kSoftmax: {
        if (li + 1 != spec.layers.size()) bad_layer(li, "softmax may only be the last layer");
        n.out_w = width;
        n.seq_out = seq;
        I.nodes.push_back(std::move(n));
        break;
      }
      default:
        bad_layer(li, "unknown layer type " + std::to_string(static_cast<int>(L.type)));
    }
    if (width < 1) bad_layer(li, "the layer's input width is unknown");
  }
  param_count_ = flat;
  out_size_ = width;
  per_step_ = seq;
  for (size_t i = 0; i < params_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (params_[i].name == params_[j].name)
        throw Error(Code::kInvalidArgument, "layers: two parameters are both named '" + params_[i].name + "' (layer names must be unique)");
  I.own.assign(static_cast<size_t>(own_size), T(0));
  I.acts.resize(I.nodes.size() + 1);
  if (params) set_params(params, count);
}

template <typename T>
SeqModel<T>::~SeqModel() = default;

template <typename T>
int64_t SeqModel<T>::state_size(int64_t batch) const {
  int64_t n = 0;
  for (const auto& nd : impl_->nodes)
    if (nd.type == LayerType::kRecurrent) {
      const RnnConfig& c = nd.rnn->config();
      n += c.dirs() * batch * c.state_size();
      if (c.cell == CellType::kLstm) n += c.dirs() * batch * c.hidden_size;
    }
  return n;
}

template <typename T>
void SeqModel<T>::get_params(T* out) const {
  for (const auto& s : impl_->segs) std::memcpy(out + s.flat, impl_->seg_ptr(s), sizeof(T) * s.size);
}

template <typename T>
void SeqModel<T>::set_params(const T* in, int64_t count) {
  if (count != param_count_)
    throw Error(Code::kShapeMismatch, "params: expected " + std::to_string(param_count_) + " values, got " +
                                          std::to_string(count));
  Impl& I = *impl_;
  for (const auto& s : I.segs) std::memcpy(I.seg_ptr(s), in + s.flat, sizeof(T) * s.size);
  for (auto& n : I.nodes) {
    if (n.type == LayerType::kRecurrent) n.rnn->weights_changed();
    if (n.type == LayerType::kEmbedding && n.pad >= 0) {
      // PyTorch keeps the padding row as given; it gets no gradient. Keep as given.
    }
  }
}

template <typename T>
int SeqModel<T>::optim_slots() const {
  return optim_kind_ == OptimKind::kSgd ? 1 : 2;
}

template <typename T>
void SeqModel<T>::reset_optim() {
  optim_step_ = 0;
  impl_->m.clear();
  impl_->v.clear();
  impl_->ema.clear();
}

template <typename T>
void SeqModel<T>::get_optim_state(int slot, T* out) const {
  const Buffer<T>& b = slot == 0 ? impl_->m : impl_->v;
  if (slot < 0 || slot >= optim_slots()) throw Error(Code::kInvalidArgument, "optimizer slot out of range");
  if (static_cast<int64_t>(b.size()) != param_count_)
    std::fill(out, out + param_count_, T(0));
  else
    std::memcpy(out, b.data(), sizeof(T) * param_count_);
}

template <typename T>
void SeqModel<T>::set_optim_state(OptimKind kind, int64_t step, int slot, const T* in, int64_t count) {
  int k = static_cast<int>(kind);
  if (k < 0 || k > 2) throw Error(Code::kInvalidArgument, "optimizer: unknown kind");
  if (count != param_count_)
    throw Error(Code::kShapeMismatch, "optimizer state: expected " + std::to_string(param_count_) + " values, got " +
                                          std::to_string(count));
  if (step < 0) throw Error(Code::kInvalidArgument, "optimizer state: negative step");
  optim_kind_ = kind;
  optim_step_ = step;
  if (slot < 0 || slot >= optim_slots()) throw Error(Code::kInvalidArgument, "optimizer slot out of range");
  Buffer<T>& b = slot == 0 ? impl_->m : impl_->v;
  b.assign(in, in + count);
}

template <typename T>
bool SeqModel<T>::get_ema(T* out) const {
  if (static_cast<int64_t>(impl_->ema.size()) != param_count_) return false;
  std::memcpy(out, impl_->ema.data(), sizeof(T) * param_count_);
  return true;
}

template <typename T>
void SeqModel<T>::set_ema(const T* in, int64_t count) {
  if (count != param_count_)
    throw Error(Code::kShapeMismatch, "ema: expected " + std::to_string(param_count_) + " values, got " + std::to_string(count));
  impl_->ema.assign(in, in + count);
}

template <typename T>
int64_t SeqModel<T>::native_bytes() const {
  const Impl& I = *impl_;
  int64_t n = static_cast<int64_t>(I.own.capacity() + I.g0.capacity() + I.g1.capacity() + I.grad.capacity() +
                                   I.m.capacity() + I.v.capacity()) *
              static_cast<int64_t>(sizeof(T));
  for (const auto& a : I.acts) n += static_cast<int64_t>(a.capacity() * sizeof(T));
  for (const auto& nd : I.nodes) {
    n += static_cast<int64_t>(nd.mask.capacity() * sizeof(T) + nd.argmax.capacity() * sizeof(int32_t));
    if (nd.rnn) n += nd.rnn->native_bytes();
    if (nd.tape) {
      auto sz = [](const auto& b) { return static_cast<int64_t>(b.capacity() * sizeof(b[0])); };
      n += sz(nd.tape->x0);
      for (const auto& b : nd.tape->layer_out) n += sz(b);
      for (const auto& d : nd.tape->dirs) n += sz(d.pre) + sz(d.hprev) + sz(d.cprev) + sz(d.c);
    }
  }
  return n;
}

// ---- the pass -------------------------------------------------------------------------------

namespace {

template <typename T>
struct Pass {
  // Runs the model forward. train: dropout on and tapes recorded.
  static void forward(typename SeqModel<T>::Impl& I, const ModelSpec& spec, const ModelBatch<T>& b, bool train,
                      uint64_t seed, int64_t step) {
    const int64_t B = b.batch, Tn = b.seq_len;
    I.B = B;
    I.Tn = Tn;
    const auto& K = cpu::kernels<T>();
    // lengths
    I.lens.assign(static_cast<size_t>(B), static_cast<int32_t>(Tn));
    if (b.lengths)
      for (int64_t i = 0; i < B; ++i) {
        int32_t l = b.lengths[i];
        if (l < 1 || l > Tn)
          throw Error(Code::kInvalidArgument, "lengths[" + std::to_string(i) + "]: expected 1.." + std::to_string(Tn) +
                                                  ", got " + std::to_string(l));
        I.lens[i] = l;
      }
    const int32_t* lens = I.lens.data();
    // input → acts[0] (features), or the embedding writes acts[1]
    if (!spec.ids_input) {
      const int64_t F = spec.feature_size;
      Buffer<T>& x = I.acts[0];
      ensure_size(x, checked_mul({Tn, B, F}, "input"));
      for (int64_t t = 0; t < Tn; ++t)
        for (int64_t bi = 0; bi < B; ++bi) {
          T* dst = x.data() + (t * B + bi) * F;
          if (t < lens[bi])
            std::memcpy(dst, b.features + (bi * Tn + t) * F, sizeof(T) * F);
          else
            std::fill(dst, dst + F, T(0));
        }
    }
    int64_t state_off = 0;
    for (size_t ni = 0; ni < I.nodes.size(); ++ni) {
      auto& n = I.nodes[ni];
      const T* in = I.acts[ni].data();
      Buffer<T>& outb = I.acts[ni + 1];
      const int64_t rows_in = n.seq_in ? Tn * B : B;
      const int64_t rows_out = n.seq_out ? Tn * B : B;
      ensure_size(outb, checked_mul({rows_out, n.out_w}, "activations"));
      T* out = outb.data();
      switch (n.type) {
        case LayerType::kEmbedding: {
          const int64_t E = n.out_w;
          const T* W = I.own.data() + n.w_off;
          for (int64_t bi = 0; bi < B; ++bi)
            for (int64_t t = 0; t < Tn; ++t) {
              T* dst = out + (t * B + bi) * E;
              if (t >= lens[bi]) {
                std::fill(dst, dst + E, T(0));
                continue;
              }
              int32_t id = b.ids[bi * Tn + t];
              if (id < 0 || id >= n.V)
                throw Error(Code::kInvalidArgument, "ids[" + std::to_string(bi) + "][" + std::to_string(t) +
                                                        "]: expected a token id in 0.." + std::to_string(n.V - 1) +
                                                        ", got " + std::to_string(id));
              std::memcpy(dst, W + static_cast<int64_t>(id) * E, sizeof(T) * E);
            }
          break;
        }
        case LayerType::kDropout: {
          const int64_t N = rows_in * n.in_w;
          if (!train || n.p <= 0) {
            std::memcpy(out, in, sizeof(T) * N);
            break;
          }
          ensure_size(n.mask, N);
          const T scale = T(1) / T(1 - n.p);
          const uint64_t thr = static_cast<uint64_t>(n.p * 18446744073709551616.0);
          const uint64_t base = mix(seed ^ mix(static_cast<uint64_t>(step) * 0x100000001B3ull + ni));
          T* mk = n.mask.data();
          for (int64_t i = 0; i < N; ++i) {
            T mval = mix(base + static_cast<uint64_t>(i)) < thr ? T(0) : scale;
            mk[i] = mval;
            out[i] = in[i] * mval;
          }
          break;
        }
        case LayerType::kRecurrent: {
          const RnnConfig& c = n.rnn->config();
          ForwardArgs<T> a;
          a.seq_len = Tn;
          a.batch = B;
          a.x = in;
          a.y = out;
          a.lengths = lens;
          const int64_t hs = c.dirs() * B * c.state_size();
          const int64_t cs = c.cell == CellType::kLstm ? c.dirs() * B * c.hidden_size : 0;
          if (b.state_in) {
            a.h0 = b.state_in + state_off;
            if (cs) a.c0 = b.state_in + state_off + hs;
          }
          if (b.state_out) {
            a.hn = b.state_out + state_off;
            if (cs) a.cn = b.state_out + state_off + hs;
          }
          state_off += hs + cs;
          n.rnn->forward(a, train ? n.tape.get() : nullptr);
          break;
        }
        case LayerType::kPool: {
          const int64_t F = n.in_w;
          const bool mean = n.pool == PoolMode::kMean || n.pool == PoolMode::kMeanMax;
          const bool mx = n.pool == PoolMode::kMax || n.pool == PoolMode::kMeanMax;
          const int64_t OW = n.out_w;
          if (mx) ensure_size(n.argmax, B * F);
          for (int64_t bi = 0; bi < B; ++bi) {
            const int64_t len = lens[bi];
            T* o = out + bi * OW;
            if (n.pool == PoolMode::kLast) {
              const int64_t R = F / n.dirs;
              std::memcpy(o, in + ((len - 1) * B + bi) * F, sizeof(T) * R);
              if (n.dirs == 2) std::memcpy(o + R, in + bi * F + R, sizeof(T) * R);
              continue;
            }
            if (mean) {
              T* s = o;
              std::fill(s, s + F, T(0));
              for (int64_t t = 0; t < len; ++t) {
                const T* r = in + (t * B + bi) * F;
                for (int64_t f = 0; f < F; ++f) s[f] += r[f];
              }
              const T inv = T(1) / T(len);
              for (int64_t f = 0; f < F; ++f) s[f] *= inv;
            }
            if (mx) {
              T* s = o + (mean ? F : 0);
              int32_t* am = n.argmax.data() + bi * F;
              const T* r0 = in + bi * F;
              for (int64_t f = 0; f < F; ++f) {
                s[f] = r0[f];
                am[f] = 0;
              }
              for (int64_t t = 1; t < len; ++t) {
                const T* r = in + (t * B + bi) * F;
                for (int64_t f = 0; f < F; ++f)
                  if (r[f] > s[f]) {
                    s[f] = r[f];
                    am[f] = static_cast<int32_t>(t);
                  }
              }
            }
          }
          break;
        }
        case LayerType::kDense: {
          const int64_t O = n.out_w, Fi = n.in_w;
          K.gemm_nt(rows_in, O, Fi, in, Fi, I.own.data() + n.w_off, Fi, out, O, false);
          const T* bias = n.b_off >= 0 ? I.own.data() + n.b_off : nullptr;
          for (int64_t r = 0; r < rows_in; ++r) {
            T* o = out + r * O;
            const bool padded = n.seq_out && (r / B) >= lens[r % B];
            if (padded) {
              std::fill(o, o + O, T(0));
              continue;
            }
            for (int64_t j = 0; j < O; ++j) o[j] = act_fwd<T>(n.act, o[j] + (bias ? bias[j] : T(0)));
          }
          break;
        }
        case LayerType::kSoftmax: {
          const int64_t O = n.out_w;
          for (int64_t r = 0; r < rows_in; ++r) {
            const T* z = in + r * O;
            T* o = out + r * O;
            if (n.seq_out && (r / B) >= lens[r % B]) {
              std::fill(o, o + O, T(0));
              continue;
            }
            T mxv = z[0];
            for (int64_t j = 1; j < O; ++j) mxv = std::max(mxv, z[j]);
            T s = 0;
            for (int64_t j = 0; j < O; ++j) s += (o[j] = std::exp(z[j] - mxv));
            for (int64_t j = 0; j < O; ++j) o[j] /= s;
          }
          break;
        }
      }
    }
  }
};

}  // namespace

template <typename T>
void SeqModel<T>::forward(const ModelBatch<T>& b, T* out) {
  Impl& I = *impl_;
  Pass<T>::forward(I, spec_, b, false, 0, 0);
  const T* y = I.acts.back().data();
  const int64_t O = out_size_, B = b.batch, Tn = b.seq_len;
  if (!per_step_) {
    std::memcpy(out, y, sizeof(T) * B * O);
    return;
  }
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t t = 0; t < Tn; ++t) std::memcpy(out + (bi * Tn + t) * O, y + (t * B + bi) * O, sizeof(T) * O);
}

namespace {

// Loss on the model output; writes dL/d(logits or output) into g (time-major rows) when g != null.
// Cross-entropy works on the logits: the input of a final softmax, or the output itself.
template <typename T>
StepResult loss_and_grad(const T* z, const T* y, bool softmax_last, bool per_step, int64_t B, int64_t Tn,
                         const int32_t* lens, int64_t O, LossKind loss, const int32_t* ct, const T* vt, double eps,
                         T* g) {
  StepResult r;
  const int64_t rows = per_step ? Tn * B : B;
  auto valid = [&](int64_t row, int64_t& user_index) {
    const int64_t bi = per_step ? row % B : row;
    const int64_t t = per_step ? row / B : 0;
    user_index = per_step ? bi * Tn + t : bi;
    return !per_step || t < lens[bi];
  };
  if (g) std::fill(g, g + rows * O, T(0));
  if (loss == LossKind::kCrossEntropy) {
    if (!ct) throw Error(Code::kInvalidArgument, "targets: cross-entropy needs class indices (Int32)");
    if (O < 2 && softmax_last) throw Error(Code::kInvalidArgument, "cross-entropy needs at least 2 classes");
    double total = 0;
    for (int64_t row = 0; row < rows; ++row) {
      int64_t ui;
      if (!valid(row, ui)) continue;
      int32_t k = ct[ui];
      if (k == -1) continue;
      if (k < 0 || k >= O)
        throw Error(Code::kInvalidArgument, "targets[" + std::to_string(ui) + "]: expected a class in 0.." +
                                                std::to_string(O - 1) + " (or -1 to ignore), got " + std::to_string(k));
      const T* zr = z + row * O;
      double mx = zr[0];
      int64_t arg = 0;
      for (int64_t j = 1; j < O; ++j)
        if (zr[j] > mx) {
          mx = zr[j];
          arg = j;
        }
      double s = 0, sumz = 0;
      for (int64_t j = 0; j < O; ++j) {
        s += std::exp(static_cast<double>(zr[j]) - mx);
        sumz += zr[j];
      }
      const double lse = mx + std::log(s);
      total += lse - (1 - eps) * zr[k] - eps / O * sumz;
      r.count++;
      if (arg == k) r.correct++;
      if (g) {  // softmax - smoothed target, scaled by 1/count below
        T* gr = g + row * O;
        for (int64_t j = 0; j < O; ++j)
          gr[j] = static_cast<T>(std::exp(static_cast<double>(zr[j]) - mx) / s - (eps / O + (j == k ? 1 - eps : 0)));
      }
    }
    r.loss = r.count ? total / r.count : 0;
    if (g && r.count) {
      const T inv = static_cast<T>(1.0 / r.count);
      for (int64_t i = 0; i < rows * O; ++i) g[i] *= inv;
    }
    return r;
  }
  // MSE on the output (after a softmax if there is one)
  if (!vt) throw Error(Code::kInvalidArgument, "targets: mean squared error needs value targets (Float)");
  double total = 0;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t ui;
    if (!valid(row, ui)) continue;
    const T* yr = y + row * O;
    const T* tr = vt + ui * O;
    T* gr = g ? g + row * O : nullptr;
    for (int64_t j = 0; j < O; ++j) {
      double d = static_cast<double>(yr[j]) - tr[j];
      if (!std::isfinite(static_cast<double>(tr[j])))
        throw Error(Code::kInvalidArgument, "targets[" + std::to_string(ui) + "]: not a finite number");
      total += d * d;
      if (gr) gr[j] = static_cast<T>(d);  // scaled by 2/n below
    }
    r.count++;
  }
  const double n = static_cast<double>(r.count) * O;
  r.loss = r.count ? total / n : 0;
  if (g && r.count) {
    const T scale = static_cast<T>(2.0 / n);
    for (int64_t i = 0; i < rows * O; ++i) g[i] *= scale;
    if (softmax_last) {
      // through the softmax: dz = y * (dy - sum(dy * y))
      for (int64_t row = 0; row < rows; ++row) {
        const T* yr = y + row * O;
        T* gr = g + row * O;
        double dot = 0;
        for (int64_t j = 0; j < O; ++j) dot += static_cast<double>(gr[j]) * yr[j];
        for (int64_t j = 0; j < O; ++j) gr[j] = static_cast<T>(yr[j] * (gr[j] - dot));
      }
    }
  }
  return r;
}

}  // namespace

template <typename T>
StepResult SeqModel<T>::evaluate(const ModelBatch<T>& b, LossKind loss, const int32_t* ct, const T* vt, double eps,
                                 T* out) {
  Impl& I = *impl_;
  if (!(eps >= 0 && eps < 1)) throw Error(Code::kInvalidArgument, "labelSmoothing: expected a number in [0, 1)");
  Pass<T>::forward(I, spec_, b, false, 0, 0);
  const bool sm = spec_.layers.back().type == LayerType::kSoftmax;
  const size_t n = I.nodes.size();
  const T* y = I.acts[n].data();
  const T* z = sm ? I.acts[n - 1].data() : y;
  StepResult r = loss_and_grad<T>(z, y, sm, per_step_, b.batch, b.seq_len, I.lens.data(), out_size_, loss, ct, vt,
                                  eps, nullptr);
  if (out) {
    const int64_t O = out_size_, B = b.batch, Tn = b.seq_len;
    if (!per_step_)
      std::memcpy(out, y, sizeof(T) * B * O);
    else
      for (int64_t bi = 0; bi < B; ++bi)
        for (int64_t t = 0; t < Tn; ++t) std::memcpy(out + (bi * Tn + t) * O, y + (t * B + bi) * O, sizeof(T) * O);
  }
  return r;
}

template <typename T>
StepResult SeqModel<T>::train_step(const ModelBatch<T>& b, LossKind loss, const int32_t* ct, const T* vt, double eps,
                                   const OptimConfig& opt, uint64_t seed, T* grads_out) {
  Impl& I = *impl_;
  if (!(eps >= 0 && eps < 1)) throw Error(Code::kInvalidArgument, "labelSmoothing: expected a number in [0, 1)");
  const int ok = static_cast<int>(opt.kind);
  if (ok < 0 || ok > 2) throw Error(Code::kInvalidArgument, "optimizer: unknown kind");
  auto finite_nonneg = [](double x) { return std::isfinite(x) && x >= 0; };
  if (!finite_nonneg(opt.lr)) throw Error(Code::kInvalidArgument, "lr: expected a finite number >= 0");
  if (!finite_nonneg(opt.momentum) || opt.momentum >= 1) throw Error(Code::kInvalidArgument, "momentum: expected [0, 1)");
  if (!(opt.beta1 >= 0 && opt.beta1 < 1) || !(opt.beta2 >= 0 && opt.beta2 < 1))
    throw Error(Code::kInvalidArgument, "betas: expected numbers in [0, 1)");
  if (!(opt.eps > 0) || !std::isfinite(opt.eps)) throw Error(Code::kInvalidArgument, "eps: expected a number > 0");
  if (!finite_nonneg(opt.weight_decay)) throw Error(Code::kInvalidArgument, "weightDecay: expected a finite number >= 0");
  if (!(opt.ema >= 0 && opt.ema < 1)) throw Error(Code::kInvalidArgument, "ema: expected a decay in [0, 1)");
  if (!finite_nonneg(opt.clip_norm) || !finite_nonneg(opt.clip_value))
    throw Error(Code::kInvalidArgument, "clip: expected finite numbers >= 0");

  Pass<T>::forward(I, spec_, b, true, seed, optim_step_);
  const int64_t B = b.batch, Tn = b.seq_len;
  const size_t n = I.nodes.size();
  const bool sm = spec_.layers.back().type == LayerType::kSoftmax;
  const T* y = I.acts[n].data();
  const T* z = sm ? I.acts[n - 1].data() : y;
  const int64_t rows_last = per_step_ ? Tn * B : B;
  ensure_size(I.g0, rows_last * out_size_);
  StepResult res = loss_and_grad<T>(z, y, sm, per_step_, B, Tn, I.lens.data(), out_size_, loss, ct, vt, eps, I.g0.data());
  // gradient buffer
  I.grad.assign(static_cast<size_t>(param_count_), T(0));
  const auto& K = cpu::kernels<T>();
  const int32_t* lens = I.lens.data();
  // backward; g0 holds dL/d(output of node ni)
  size_t start = sm ? n - 1 : n;  // skip the softmax: the loss gave dL/dlogits (or went through it)
  for (size_t ni = start; ni-- > 0;) {
    auto& nd = I.nodes[ni];
    const T* in = I.acts[ni].data();
    const T* out = I.acts[ni + 1].data();
    const int64_t rows_in = nd.seq_in ? Tn * B : B;
    const bool need_dx = ni > 0;  // the first node's input gradient is never used
    T* g = I.g0.data();
    switch (nd.type) {
      case LayerType::kEmbedding: {
        const int64_t E = nd.out_w;
        T* dW = I.grad.data() + nd.grad_off;
        for (int64_t bi = 0; bi < B; ++bi)
          for (int64_t t = 0; t < lens[bi]; ++t) {
            int32_t id = b.ids[bi * Tn + t];
            if (id == nd.pad) continue;
            const T* gr = g + (t * B + bi) * E;
            T* d = dW + static_cast<int64_t>(id) * E;
            for (int64_t e = 0; e < E; ++e) d[e] += gr[e];
          }
        break;
      }
      case LayerType::kDropout: {
        if (nd.p > 0) {
          const int64_t N = rows_in * nd.in_w;
          const T* mk = nd.mask.data();
          for (int64_t i = 0; i < N; ++i) g[i] *= mk[i];
        }
        break;
      }
      case LayerType::kRecurrent: {
        ensure_size(I.g1, rows_in * nd.in_w);
        BackwardArgs<T> a;
        a.gy = g;
        a.dx = I.g1.data();
        a.dw = I.grad.data() + nd.grad_off;
        nd.rnn->backward(*nd.tape, a);
        std::swap(I.g0, I.g1);
        break;
      }
      case LayerType::kPool: {
        const int64_t F = nd.in_w, OW = nd.out_w;
        ensure_size(I.g1, Tn * B * F);
        T* dx = I.g1.data();
        std::fill(dx, dx + Tn * B * F, T(0));
        const bool mean = nd.pool == PoolMode::kMean || nd.pool == PoolMode::kMeanMax;
        const bool mx = nd.pool == PoolMode::kMax || nd.pool == PoolMode::kMeanMax;
        for (int64_t bi = 0; bi < B; ++bi) {
          const int64_t len = lens[bi];
          const T* go = g + bi * OW;
          if (nd.pool == PoolMode::kLast) {
            const int64_t R = F / nd.dirs;
            T* d1 = dx + ((len - 1) * B + bi) * F;
            for (int64_t f = 0; f < R; ++f) d1[f] += go[f];
            if (nd.dirs == 2) {
              T* d0 = dx + bi * F;
              for (int64_t f = R; f < F; ++f) d0[f] += go[f];
            }
            continue;
          }
          if (mean) {
            const T inv = T(1) / T(len);
            for (int64_t t = 0; t < len; ++t) {
              T* d = dx + (t * B + bi) * F;
              for (int64_t f = 0; f < F; ++f) d[f] += go[f] * inv;
            }
          }
          if (mx) {
            const T* gm = go + (mean ? F : 0);
            const int32_t* am = nd.argmax.data() + bi * F;
            for (int64_t f = 0; f < F; ++f) dx[(am[f] * B + bi) * F + f] += gm[f];
          }
        }
        std::swap(I.g0, I.g1);
        break;
      }
      case LayerType::kDense: {
        const int64_t O = nd.out_w, Fi = nd.in_w;
        // g := dL/dpre (in place)
        if (nd.act != DenseAct::kNone)
          for (int64_t i = 0; i < rows_in * O; ++i) g[i] *= act_grad<T>(nd.act, out[i]);
        // padded rows of a per-step dense carry no gradient (their outputs were forced to 0)
        if (nd.seq_out)
          for (int64_t r = 0; r < rows_in; ++r)
            if ((r / B) >= lens[r % B]) std::fill(g + r * O, g + (r + 1) * O, T(0));
        K.gemm_tn(O, Fi, rows_in, g, O, in, Fi, I.grad.data() + nd.grad_off, Fi, true);
        if (nd.b_off >= 0) {
          T* db = I.grad.data() + nd.grad_b_off;
          for (int64_t r = 0; r < rows_in; ++r)
            for (int64_t j = 0; j < O; ++j) db[j] += g[r * O + j];
        }
        if (need_dx) {
          ensure_size(I.g1, rows_in * Fi);
          K.gemm_nn(rows_in, Fi, O, g, O, I.own.data() + nd.w_off, Fi, I.g1.data(), Fi, false);
          std::swap(I.g0, I.g1);
        }
        break;
      }
      case LayerType::kSoftmax:
        break;
    }
  }
  // gradient norm, clipping
  double sq = 0;
  for (int64_t i = 0; i < param_count_; ++i) sq += static_cast<double>(I.grad[i]) * I.grad[i];
  res.grad_norm = std::sqrt(sq);
  if (!std::isfinite(res.grad_norm) || !std::isfinite(res.loss))
    throw Error(Code::kInvalidArgument, "training diverged: the loss or the gradient is not finite (lower the learning rate or clip gradients)");
  if (grads_out) {
    std::memcpy(grads_out, I.grad.data(), sizeof(T) * param_count_);
    return res;
  }
  T* G = I.grad.data();
  if (opt.clip_value > 0) {
    const T cv = static_cast<T>(opt.clip_value);
    for (int64_t i = 0; i < param_count_; ++i) G[i] = std::min(cv, std::max(-cv, G[i]));
  }
  if (opt.clip_norm > 0) {
    double s2 = 0;
    for (int64_t i = 0; i < param_count_; ++i) s2 += static_cast<double>(G[i]) * G[i];
    const double nrm = std::sqrt(s2);
    if (nrm > opt.clip_norm) {
      const T sc = static_cast<T>(opt.clip_norm / (nrm + 1e-6));
      for (int64_t i = 0; i < param_count_; ++i) G[i] *= sc;
    }
  }
  // optimizer
  if (optim_kind_ != opt.kind || static_cast<int64_t>(I.m.size()) != param_count_) {
    optim_kind_ = opt.kind;
    I.m.assign(static_cast<size_t>(param_count_), T(0));
    if (opt.kind != OptimKind::kSgd) I.v.assign(static_cast<size_t>(param_count_), T(0));
  }
  if (opt.kind != OptimKind::kSgd && static_cast<int64_t>(I.v.size()) != param_count_)
    I.v.assign(static_cast<size_t>(param_count_), T(0));
  ++optim_step_;
  const double lr = opt.lr, wd = opt.weight_decay;
  const double bc1 = 1 - std::pow(opt.beta1, static_cast<double>(optim_step_));
  const double bc2 = 1 - std::pow(opt.beta2, static_cast<double>(optim_step_));
  for (const auto& s : I.segs) {
    T* w = I.seg_ptr(s);
    T* gg = G + s.flat;
    T* m = I.m.data() + s.flat;
    T* v = opt.kind == OptimKind::kSgd ? nullptr : I.v.data() + s.flat;
    const double d = s.decay ? wd : 0;
    ThreadPool::global().parallel_for(s.size, 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        double gi = gg[i];
        if (opt.kind == OptimKind::kSgd) {
          gi += d * w[i];
          double mi = opt.momentum * m[i] + gi;
          m[i] = static_cast<T>(mi);
          double step = opt.nesterov ? gi + opt.momentum * mi : (opt.momentum > 0 ? mi : gi);
          w[i] = static_cast<T>(w[i] - lr * step);
        } else {
          if (opt.kind == OptimKind::kAdam) gi += d * w[i];
          double mi = opt.beta1 * m[i] + (1 - opt.beta1) * gi;
          double vi = opt.beta2 * v[i] + (1 - opt.beta2) * gi * gi;
          m[i] = static_cast<T>(mi);
          v[i] = static_cast<T>(vi);
          double upd = (mi / bc1) / (std::sqrt(vi / bc2) + opt.eps);
          double wi = w[i];
          if (opt.kind == OptimKind::kAdamW) wi -= lr * d * wi;
          w[i] = static_cast<T>(wi - lr * upd);
        }
      }
    });
  }
  for (auto& nd : I.nodes)
    if (nd.type == LayerType::kRecurrent) nd.rnn->weights_changed();
  if (opt.ema > 0) {
    const bool fresh = static_cast<int64_t>(I.ema.size()) != param_count_;
    if (fresh) I.ema.resize(static_cast<size_t>(param_count_));
    const T d = static_cast<T>(opt.ema);
    for (const auto& s : I.segs) {
      const T* w = I.seg_ptr(s);
      T* e = I.ema.data() + s.flat;
      if (fresh)
        std::memcpy(e, w, sizeof(T) * s.size);
      else
        for (int64_t i = 0; i < s.size; ++i) e[i] = d * e[i] + (T(1) - d) * w[i];
    }
  }
  return res;
}

template class SeqModel<float>;
template class SeqModel<double>;

}  // namespace rnnx
