// Multi-step LIF forward and backward on contiguous float32 CPU tensors [T, N]: one vectorised, multi-threaded
// pass each, every element's T steps in registers.
//
// The same arithmetic as spikeformer_mm/ops/kernels.py (lif_forward / lif_backward), bit for bit:
//   charge    H = v + (X - (v - v_reset)) * (1 / tau)            decay_input, 1 / tau exact (else / tau)
//             H = v - (v - v_reset) * (1 / tau) + X              otherwise
//   fire      S = float(H >= v_threshold), v = S ? v_reset : H   (NaN: no spike, v stays NaN)
//             soft reset (v_reset None): v = S ? H - v_threshold : H, and the membrane rests at 0
//   backward  sigmoid: sig = 1 / (1 + exp(-(alpha * (H - v_threshold)))), sg = alpha * sig * (1 - sig)
//             atan:    z = (H - v_threshold) * (pi / 2 * alpha), sg = (1 / (1 + z * z)) * (alpha / 2)
//             reset = float(H < v_threshold) [+ (v_reset - H) * sg unless detach_reset]   (hard)
//             reset = 1 [- v_threshold * sg unless detach_reset]                           (soft)
//             dH = dS * sg + carry * reset, dX = dH * (1 / tau) (decay_input) or dH, carry = dH - dH * (1 / tau)
// In the backward pass X may be recomputed from a BatchNorm's input x [T, B, C, HW] as X = x * scale[c] + shift[c].
// Both passes charge the first step from rest (charge_at_rest) and skip what the last step's carry and reset would
// only pass on: the same values, fewer operations per element (T = 1 has no carry at all).
// The backward pass runs three vectors side by side (kInterleaved).
// Tails are processed as partial vectors, so that every element takes the vector code path (at::vec's exp).
// Built by spikeformer_mm/ops/cpp_kernels.py for the CPU's vector ISA (at::vec), with -ffp-contract=off.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kGrain = 32768;  // element-steps per task, as aten's elementwise kernels

void check_input(const torch::Tensor& t, const char* name, c10::ScalarType dtype) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == dtype, name,
              " must be a contiguous CPU tensor of ", dtype, ", got ", t.scalar_type(), " on ", t.device(),
              t.is_contiguous() ? "" : " (not contiguous)");
}

// The neuron's constants, broadcast once per task. reset is the resting potential: v_reset, or 0 (soft reset).
struct Params {
  Params(double tau, double v_threshold, c10::optional<double> v_reset, bool decay_input, bool exact_reciprocal)
      : tau(static_cast<float>(tau)), inv_tau(static_cast<float>(1.0 / tau)),
        threshold(static_cast<float>(v_threshold)), reset(static_cast<float>(v_reset.value_or(0.0))),
        decay_input(decay_input), exact_reciprocal(exact_reciprocal), soft_reset(!v_reset.has_value()) {}

  Vec divide(const Vec& v) const { return exact_reciprocal ? v * inv_tau : v / tau; }

  Vec charge(const Vec& v, const Vec& x) const {
    return decay_input ? v + divide(x - (v - reset)) : v - divide(v - reset) + x;
  }

  // charge(reset, x) exactly, two operations fewer: v - reset is +0 at rest, and x - 0, reset - 0 are exact
  Vec charge_at_rest(const Vec& x) const { return decay_input ? reset + divide(x) : reset + x; }

  // the membrane after a step: v_reset (hard) or h - v_threshold (soft) where it fired, h elsewhere
  Vec after_firing(const Vec& h, const Vec& fired) const {
    return Vec::blendv(h, soft_reset ? h - threshold : reset, fired);
  }

  Vec tau, inv_tau, threshold, reset;
  bool decay_input, exact_reciprocal, soft_reset;
};

// dS/dH at x = H - v_threshold (spikingjelly's Sigmoid and ATan surrogates)
struct SurrogateGradient {
  SurrogateGradient(const std::string& name, double alpha)
      : is_atan(name == "atan"), alpha(static_cast<float>(alpha)), half_alpha(static_cast<float>(alpha / 2)),
        atan_scale(static_cast<float>(M_PI / 2 * alpha)) {
    TORCH_CHECK(name == "sigmoid" || name == "atan", "surrogate must be 'sigmoid' or 'atan', got '", name, "'");
  }

  Vec operator()(const Vec& x) const {
    if (is_atan) {
      const Vec z = x * atan_scale;
      return (Vec(1.f) + z * z).reciprocal() * half_alpha;  // as torch's `scalar / tensor`
    }
    const Vec sig = (Vec(1.f) + (Vec(0.f) - alpha * x).exp()).reciprocal();
    return alpha * sig * (Vec(1.f) - sig);
  }

  bool is_atan;
  Vec alpha, half_alpha, atan_scale;
};

int64_t grain_for(int64_t T) { return std::max<int64_t>(kGrain / std::max<int64_t>(T, 1), Vec::size()); }

// One vector of elements (count of them; all Vec::size() with kFull, which skips the masked loads and stores)
// through the T steps: spikes to out and, if bytes, as uint8 to bytes.
template <bool kFull>
inline void forward_vector(const Params& p, const float* in, float* out, uint8_t* bytes, int64_t T, int64_t N,
                           int count) {
  const Vec one(1.f);
  Vec v;
  for (int64_t t = 0, at = 0; t < T; ++t, at += N) {
    const Vec x = kFull ? Vec::loadu(in + at) : Vec::loadu(in + at, count);
    const Vec h = t == 0 ? p.charge_at_rest(x) : p.charge(v, x);
    const Vec fired = h >= p.threshold;
    const Vec spike = fired & one;
    if (kFull) {
      spike.store(out + at);
    } else {
      spike.store(out + at, count);
    }
    if (bytes) at::vec::convert<uint8_t>(spike).store(bytes + at, count);
    v = p.after_firing(h, fired);
  }
}

// x [T, ...] float -> spikes [T, ...] float and, if with_levels, the same spikes as uint8
std::vector<torch::Tensor> lif_forward(const torch::Tensor& x, double tau, double v_threshold,
                                       c10::optional<double> v_reset, bool decay_input, bool with_levels,
                                       bool exact_reciprocal) {
  check_input(x, "x", torch::kFloat);
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 1, "x must have shape [T, ...] with T >= 1, got ", x.sizes());
  auto spikes = torch::empty_like(x);
  auto levels = with_levels ? torch::empty(x.sizes(), x.options().dtype(torch::kUInt8)) : torch::Tensor();
  const int64_t T = x.size(0), N = x.numel() / T;
  const float* in = x.data_ptr<float>();
  float* out = spikes.data_ptr<float>();
  uint8_t* bytes = with_levels ? levels.data_ptr<uint8_t>() : nullptr;
  at::parallel_for(0, N, grain_for(T), [&](int64_t begin, int64_t end) {
    const Params p(tau, v_threshold, v_reset, decay_input, exact_reciprocal);
    constexpr int kSize = Vec::size();
    int64_t i = begin;
    for (; i + kSize <= end; i += kSize) {
      forward_vector<true>(p, in + i, out + i, bytes ? bytes + i : nullptr, T, N, kSize);
    }
    if (i < end) forward_vector<false>(p, in + i, out + i, bytes ? bytes + i : nullptr, T, N, end - i);
  });
  if (with_levels) return {spikes, levels};
  return {spikes};
}

// X = x * scale + shift when on (the BatchNorm output that a LIF's input was, recomputed from the BN's input)
struct Transform {
  Vec scale, shift;
  bool on;
};

// Vectors per backward_vectors call: the backward is bound by the latency of its exp and division, not by memory,
// so independent chains in one iteration let the CPU overlap them; three hide most of the latency, and more only
// spend registers. The values do not depend on it.
constexpr int kInterleaved = 3;

// kVectors adjacent vectors of elements (count elements each; all full when kVectors > 1) through the T steps
// forward (recomputing the membrane) and back. The vectors' chains are independent, so the CPU overlaps their exps
// and divisions: the backward pass is bound by their latency, not by memory.
template <int kVectors>
inline void backward_vectors(const Params& p, const Transform& xf, const SurrogateGradient& surrogate_gradient,
                             bool detach_reset, const float* g,
                             const float* in, float* res, int64_t T, int64_t N, int count, Vec* charged) {
  const Vec zero(0.f), one(1.f);
  constexpr int kSize = Vec::size();
  Vec v[kVectors];
  for (int64_t t = 0; t < T; ++t) {
    for (int k = 0; k < kVectors; ++k) {
      const float* src = in + t * N + k * kSize;
      Vec input = count == kSize ? Vec::loadu(src) : Vec::loadu(src, count);
      if (xf.on) input = input * xf.scale + xf.shift;
      Vec& h = charged[t * kVectors + k];
      h = t == 0 ? p.charge_at_rest(input) : p.charge(v[k], input);
      if (t + 1 < T) v[k] = p.after_firing(h, h >= p.threshold);
    }
  }
  Vec carry[kVectors];
  for (Vec& c : carry) c = zero;
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int k = 0; k < kVectors; ++k) {
      const Vec& h = charged[t * kVectors + k];
      const Vec surrogate = surrogate_gradient(h - p.threshold);
      const float* grad_src = g + t * N + k * kSize;
      Vec grad_h = (count == kSize ? Vec::loadu(grad_src) : Vec::loadu(grad_src, count)) * surrogate;
      if (t == T - 1 && detach_reset) {
        grad_h = grad_h + zero;  // the carry is +0 and the reset gradient 0 or 1: their product is +0
      } else if (p.soft_reset) {
        grad_h = grad_h + (detach_reset ? carry[k] : carry[k] * (one - p.threshold * surrogate));
      } else {
        Vec reset_grad = (h < p.threshold) & one;
        if (!detach_reset) reset_grad = reset_grad + (p.reset - h) * surrogate;
        grad_h = grad_h + carry[k] * reset_grad;
      }
      const Vec grad_x = p.decay_input ? p.divide(grad_h) : grad_h;
      float* dst = res + t * N + k * kSize;
      if (count == kSize) {
        grad_x.store(dst);
      } else {
        grad_x.store(dst, count);
      }
      if (t > 0) carry[k] = grad_h - p.divide(grad_h);
    }
  }
}

// grad_spikes, x [T, N] (or, with scale/shift [C], a BatchNorm's input [T, B, C, HW]) -> grad_x in x's layout
torch::Tensor lif_backward(const torch::Tensor& grad_spikes, const torch::Tensor& x,
                           const c10::optional<torch::Tensor>& scale, const c10::optional<torch::Tensor>& shift,
                           double tau, double v_threshold, c10::optional<double> v_reset, bool decay_input,
                           bool detach_reset, double alpha, bool exact_reciprocal, const std::string& surrogate) {
  check_input(grad_spikes, "grad_spikes", torch::kFloat);
  check_input(x, "x", torch::kFloat);
  TORCH_CHECK(grad_spikes.sizes() == x.sizes(), "grad_spikes and x must have the same shape, got ",
              grad_spikes.sizes(), " and ", x.sizes());
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 1, "x must have shape [T, ...] with T >= 1, got ", x.sizes());
  const bool transformed = scale.has_value();
  TORCH_CHECK(transformed == shift.has_value(), "scale and shift go together");
  const int64_t T = x.size(0), N = x.numel() / T;
  int64_t channels = 1, row = N;  // X = x * scale[c] + shift[c], c = (n / row) % channels
  const float *scales = nullptr, *shifts = nullptr;
  if (transformed) {
    TORCH_CHECK(x.dim() == 4, "with scale/shift, x must be a BatchNorm's input [T, B, C, HW], got ", x.sizes());
    check_input(*scale, "scale", torch::kFloat);
    check_input(*shift, "shift", torch::kFloat);
    channels = x.size(2);
    row = x.size(3);
    TORCH_CHECK(scale->numel() == channels && shift->numel() == channels, "scale and shift must have C = ",
                channels, " elements, got ", scale->numel(), " and ", shift->numel());
    scales = scale->data_ptr<float>();
    shifts = shift->data_ptr<float>();
  }
  auto grad_x = torch::empty_like(x);
  const float* g = grad_spikes.data_ptr<float>();
  const float* in = x.data_ptr<float>();
  float* res = grad_x.data_ptr<float>();
  at::parallel_for(0, N, grain_for(T), [&](int64_t begin, int64_t end) {
    const Params p(tau, v_threshold, v_reset, decay_input, exact_reciprocal);
    const SurrogateGradient surrogate_gradient(surrogate, alpha);
    const Vec one(1.f), zero(0.f);
    std::vector<Vec> charged(kInterleaved * T);
    constexpr int kSize = Vec::size();
    for (int64_t i = begin; i < end;) {
      const int64_t segment_end = std::min(end, (i / row + 1) * row);  // one channel's elements
      const int64_t c = (i / row) % channels;
      const Vec sc = transformed ? Vec(scales[c]) : one, sh = transformed ? Vec(shifts[c]) : zero;
      const Transform xf{sc, sh, transformed};
      for (; i + kInterleaved * kSize <= segment_end; i += kInterleaved * kSize) {
        backward_vectors<kInterleaved>(p, xf, surrogate_gradient, detach_reset, g + i, in + i, res + i, T, N, kSize, charged.data());
      }
      for (; i < segment_end; i = std::min(i + kSize, segment_end)) {
        const int count = static_cast<int>(std::min<int64_t>(kSize, segment_end - i));
        backward_vectors<1>(p, xf, surrogate_gradient, detach_reset, g + i, in + i, res + i, T, N, count, charged.data());
      }
    }
  });
  return grad_x;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward, "multi-step LIF forward: [spikes] or [spikes, uint8 spikes]");
  m.def("lif_backward", &lif_backward, "multi-step LIF backward with the sigmoid or atan surrogate",
        py::arg("grad_spikes"), py::arg("x"), py::arg("scale"), py::arg("shift"), py::arg("tau"),
        py::arg("v_threshold"), py::arg("v_reset"), py::arg("decay_input"), py::arg("detach_reset"),
        py::arg("alpha"), py::arg("exact_reciprocal"), py::arg("surrogate") = "sigmoid");
}
