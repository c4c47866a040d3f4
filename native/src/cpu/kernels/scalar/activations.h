// activations.h — scalar activations and their derivatives (reference definitions, ONNX semantics).
// Internal to kernels/scalar/: compiled with baseline flags only.
#pragma once

#include <algorithm>
#include <cmath>

#include "rnnx/cell.h"

namespace rnnx::cpu::scalar {

template <typename T>
inline T sigmoid(T x) {
  // Two branches so exp never overflows.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
inline T act(Activation k, T a, T b, T x) {
  switch (k) {
    case Activation::kSigmoid: return sigmoid(x);
    case Activation::kTanh: return std::tanh(x);
    case Activation::kRelu: return x > T(0) ? x : T(0);
    case Activation::kHardSigmoid: return std::min(T(1), std::max(T(0), a * x + b));
    case Activation::kAffine: return a * x + b;
    case Activation::kLeakyRelu: return x >= T(0) ? x : a * x;
    case Activation::kThresholdedRelu: return x > a ? x : T(0);
    case Activation::kScaledTanh: return a * std::tanh(b * x);
    case Activation::kElu: return x >= T(0) ? x : a * (std::exp(x) - T(1));
    case Activation::kSoftsign: return x / (T(1) + std::fabs(x));
    case Activation::kSoftplus: return std::max(x, T(0)) + std::log1p(std::exp(-std::fabs(x)));
  }
  return x;
}

/// d act(x) / dx. At kinks: the derivative of the branch that excludes the kink's left side
/// (relu'(0) = 0, as PyTorch).
template <typename T>
inline T dact(Activation k, T a, T b, T x) {
  switch (k) {
    case Activation::kSigmoid: { T s = sigmoid(x); return s * (T(1) - s); }
    case Activation::kTanh: { T t = std::tanh(x); return T(1) - t * t; }
    case Activation::kRelu: return x > T(0) ? T(1) : T(0);
    case Activation::kHardSigmoid: { T v = a * x + b; return (v > T(0) && v < T(1)) ? a : T(0); }
    case Activation::kAffine: return a;
    case Activation::kLeakyRelu: return x >= T(0) ? T(1) : a;
    case Activation::kThresholdedRelu: return x > a ? T(1) : T(0);
    case Activation::kScaledTanh: { T t = std::tanh(b * x); return a * b * (T(1) - t * t); }
    case Activation::kElu: return x >= T(0) ? T(1) : a * std::exp(x);
    case Activation::kSoftsign: { T d = T(1) + std::fabs(x); return T(1) / (d * d); }
    case Activation::kSoftplus: return sigmoid(x);
  }
  return T(1);
}

/// ONNX clip: the pre-activation is clamped to [-clip, clip] (clip 0 = off).
template <typename T>
inline T clip_value(T x, T clip) {
  return clip > T(0) ? std::min(clip, std::max(-clip, x)) : x;
}
/// d clip(x) / dx.
template <typename T>
inline T clip_grad(T x, T clip) {
  return (clip > T(0) && (x > clip || x < -clip)) ? T(0) : T(1);
}

}  // namespace rnnx::cpu::scalar
