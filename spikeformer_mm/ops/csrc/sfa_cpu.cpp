// SFA neuron forward and backward on contiguous float32 CPU tensors: one vectorised, multi-threaded pass each.
//
// The same arithmetic as spikeformer_mm/ops/kernels.py (sfa_forward / sfa_backward), bit for bit:
//   forward   clamped = min(max(x, 0), D) (NaN stays NaN),
//             levels = nearbyint(clamped) (tie_even: half to even, as torch.round) or floor(clamped + 0.5),
//             out = levels * (1 / norm) if 1 / norm is exact, else levels / norm;
//             code = uint8(levels * 2 + inside) or uint8(inside),
//             inside = (clamped == x), or (0 < x < D) with strict_window
//   backward  grad_in = (grad * float(code & 1)) * (1 / norm)   (or / norm)
//   restore   out = float(code >> level_shift) * (1 / norm)     (or / norm; kernels.py restore_levels)
// Built by spikeformer_mm/ops/cpp_kernels.py for the CPU's vector ISA (at::vec), with -ffp-contract=off.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kGrain = 32768;  // elements per task, as aten's elementwise kernels

void check_input(const torch::Tensor& t, const char* name, c10::ScalarType dtype) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == dtype, name,
              " must be a contiguous CPU tensor of ", dtype, ", got ", t.scalar_type(), " on ", t.device(),
              t.is_contiguous() ? "" : " (not contiguous)");
}

// Vec::size() bytes into the low lanes of a byte vector (the rest undefined): a quarter of its lanes, which
// loadu_one_fourth loads in one instruction; loadu(ptr, count) goes through a zero-filled buffer on AVX2
inline at::vec::Vectorized<uint8_t> load_codes(const uint8_t* codes) {
  static_assert(at::vec::Vectorized<uint8_t>::size() == 4 * Vec::size(), "a float vector's bytes fill a quarter");
  return at::vec::Vectorized<uint8_t>::loadu_one_fourth(codes);
}

// four float vectors of codes (integers 0..255; NaN gives 0) -> 4 * Vec::size() bytes, the values that
// at::vec::convert<uint8_t> gives one vector at a time. On AVX2 that convert is seven instructions and an 8-byte
// store per vector; two packs, a lane permute and one 32-byte store serve all four here
inline void store_four_codes(const Vec (&codes)[4], uint8_t* dst) {
#if defined(CPU_CAPABILITY_AVX2)
  // NaN converts to INT32_MIN, which both packs saturate to 0
  const __m256i low = _mm256_packs_epi32(_mm256_cvttps_epi32(codes[0]), _mm256_cvttps_epi32(codes[1]));
  const __m256i high = _mm256_packs_epi32(_mm256_cvttps_epi32(codes[2]), _mm256_cvttps_epi32(codes[3]));
  // the packs work per 128-bit lane: 4-byte groups come out as codes 0a 1a 2a 3a 0b 1b 2b 3b (a, b: halves)
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(_mm256_packus_epi16(low, high), order));
#else
  for (int j = 0; j < 4; ++j) at::vec::convert<uint8_t>(codes[j]).store(dst + j * Vec::size(), Vec::size());
#endif
}

inline float scale(float v, float norm, float inv_norm, bool exact_reciprocal) {
  return exact_reciprocal ? v * inv_norm : v / norm;
}

inline Vec scale(const Vec& v, const Vec& norm, const Vec& inv_norm, bool exact_reciprocal) {
  return exact_reciprocal ? v * inv_norm : v / norm;
}

// x [N] float -> out [N] float and, if with_code, code [N] uint8
std::vector<torch::Tensor> sfa_forward(const torch::Tensor& x, int64_t D, double norm, bool with_code,
                                       bool code_has_levels, bool exact_reciprocal, bool tie_even,
                                       bool strict_window) {
  check_input(x, "x", torch::kFloat);
  auto out = torch::empty_like(x);
  auto code = with_code ? torch::empty(x.sizes(), x.options().dtype(torch::kUInt8)) : torch::Tensor();
  const float* in = x.data_ptr<float>();
  float* res = out.data_ptr<float>();
  uint8_t* codes = with_code ? code.data_ptr<uint8_t>() : nullptr;
  const float ceiling = static_cast<float>(D), n = static_cast<float>(norm), inv = static_cast<float>(1.0 / norm);
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const Vec zero(0.f), one(1.f), two(2.f), half(0.5f), top(ceiling), vn(n), vinv(inv);
    // one vector at i: writes its output and, given somewhere to put them, its codes as floats
    auto vector_at = [&](int64_t i, Vec* code_values) {
      const Vec v = Vec::loadu(in + i);
      const Vec clamped = at::vec::clamp_max(at::vec::clamp_min(v, zero), top);
      // Vectorized::round rounds to nearest even (the SSE/AVX rounding mode), as torch.round and nearbyint
      const Vec levels = tie_even ? clamped.round() : (clamped + half).floor();
      scale(levels, vn, vinv, exact_reciprocal).store(res + i);
      if (code_values) {
        const Vec inside = (strict_window ? ((v > zero) & (v < top)) : (clamped == v)) & one;
        *code_values = code_has_levels ? levels * two + inside : inside;
      }
    };
    int64_t i = begin;
    if (codes) {
      for (; i + 4 * Vec::size() <= end; i += 4 * Vec::size()) {
        Vec four[4];
        for (int j = 0; j < 4; ++j) vector_at(i + j * Vec::size(), &four[j]);
        store_four_codes(four, codes + i);
      }
      for (; i + Vec::size() <= end; i += Vec::size()) {
        Vec code_values;
        vector_at(i, &code_values);
        at::vec::convert<uint8_t>(code_values).store(codes + i, Vec::size());
      }
    } else {
      for (; i + Vec::size() <= end; i += Vec::size()) vector_at(i, nullptr);
    }
    for (; i < end; ++i) {
      const float v = in[i];
      float clamped = v < 0.f ? 0.f : v;  // comparisons with NaN are false: NaN passes through
      clamped = clamped > ceiling ? ceiling : clamped;
      const float levels = tie_even ? std::nearbyint(clamped) : std::floor(clamped + 0.5f);
      res[i] = scale(levels, n, inv, exact_reciprocal);
      if (codes) {
        const bool in_window = strict_window ? (v > 0.f && v < ceiling) : clamped == v;
        const float inside = in_window ? 1.f : 0.f;
        codes[i] = static_cast<uint8_t>(code_has_levels ? levels * 2.f + inside : inside);
      }
    }
  });
  if (with_code) return {out, code};
  return {out};
}

// grad [N] float, code [N] uint8 -> grad_in [N] float
torch::Tensor sfa_backward(const torch::Tensor& grad, const torch::Tensor& code, double norm,
                           bool exact_reciprocal) {
  check_input(grad, "grad", torch::kFloat);
  check_input(code, "code", torch::kUInt8);
  TORCH_CHECK(grad.numel() == code.numel(), "grad and code must have as many elements, got ", grad.numel(),
              " and ", code.numel());
  auto grad_in = torch::empty_like(grad);
  const float* g = grad.data_ptr<float>();
  const uint8_t* codes = code.data_ptr<uint8_t>();
  float* res = grad_in.data_ptr<float>();
  const float n = static_cast<float>(norm), inv = static_cast<float>(1.0 / norm);
  at::parallel_for(0, grad.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const Vec vn(n), vinv(inv);
    const at::vec::Vectorized<uint8_t> bit(1);
    int64_t i = begin;
    for (; i + Vec::size() <= end; i += Vec::size()) {
      const Vec window = at::vec::convert<float>(load_codes(codes + i) & bit);
      scale(Vec::loadu(g + i) * window, vn, vinv, exact_reciprocal).store(res + i);
    }
    for (; i < end; ++i) res[i] = scale(g[i] * static_cast<float>(codes[i] & 1), n, inv, exact_reciprocal);
  });
  return grad_in;
}

// code [...] uint8 -> (code >> level_shift) as float, scaled by 1 / norm: the SFA output that autograd stored as
// its code (spike_storage.py), restored bit for bit (the forward's levels are exact small integers)
torch::Tensor sfa_restore(const torch::Tensor& code, int64_t level_shift, double norm, bool exact_reciprocal) {
  check_input(code, "code", torch::kUInt8);
  TORCH_CHECK(level_shift >= 0 && level_shift < 8, "level_shift must be in [0, 8), got ", level_shift);
  auto out = torch::empty(code.sizes(), code.options().dtype(torch::kFloat));
  const uint8_t* codes = code.data_ptr<uint8_t>();
  float* res = out.data_ptr<float>();
  const float n = static_cast<float>(norm), inv = static_cast<float>(1.0 / norm);
  const int shift = static_cast<int>(level_shift);
  at::parallel_for(0, code.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const Vec vn(n), vinv(inv);
    const at::vec::Vectorized<int32_t> shift_by(shift);
    int64_t i = begin;
    for (; i + Vec::size() <= end; i += Vec::size()) {
      // shifted in int32 lanes, then converted: one integer instruction per vector, where a float floor of
      // levels / 2^shift (the same values) needs a conversion, a multiplication and a rounding
      const auto levels = at::vec::convert<int32_t>(load_codes(codes + i)) >> shift_by;
      scale(at::vec::convert<float>(levels), vn, vinv, exact_reciprocal).store(res + i);
    }
    for (; i < end; ++i) res[i] = scale(static_cast<float>(codes[i] >> shift), n, inv, exact_reciprocal);
  });
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("sfa_forward", &sfa_forward, "SFA forward: [out] or [out, code]");
  m.def("sfa_backward", &sfa_backward, "SFA straight-through backward");
  m.def("sfa_restore", &sfa_restore, "SFA output from its uint8 code (compact storage)");
}
