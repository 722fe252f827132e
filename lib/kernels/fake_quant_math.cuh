#pragma once
// Per-value maths of the weight fake-quantization kernels (fake_quantize.cu for MinMax ranges,
// clipped_fake_quantize.cu for OmniQuant's learned ones), in the order and fp32 roundings of the
// ATen composition quant::quantize_codes_ste / slice_codes_ste / dequantize_codes.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {

constexpr float kMinScale = 1e-5f;  // quant/minmax.h
constexpr float kMaxScale = 1e4f;

// at::clamp's semantics: NaN stays NaN (fminf / fmaxf alone would return a bound).
__device__ __forceinline__ float clampf(float v, float lo, float hi) { return isnan(v) ? v : fminf(fmaxf(v, lo), hi); }

// A group's range as at::min / at::max see it: NaN if any value is NaN (fminf / fmaxf skip NaN), so a
// diverged weight makes its whole group NaN and the loss shows it, as in the composition.
struct NanMin {
  __device__ float operator()(float a, float b) const { return isnan(a) || isnan(b) ? NAN : fminf(a, b); }
};
struct NanMax {
  __device__ float operator()(float a, float b) const { return isnan(a) || isnan(b) ? NAN : fmaxf(a, b); }
};

// The block's group (one row of `cols` values): its minimum and maximum, NaN-propagating.
struct GroupRange {
  float lo, hi;
};
template <typename T>
__device__ __forceinline__ GroupRange group_range(const T* __restrict__ row, int64_t cols) {
  float lo = INFINITY, hi = -INFINITY;
  for_each_in_row(row, cols, [&](int64_t, T value) {
    const float v = to_float(value);
    lo = NanMin{}(lo, v);
    hi = NanMax{}(hi, v);
  });
  return {block_reduce(lo, NanMin{}), block_reduce(hi, NanMax{})};
}

// quant::affine_params_from_range for one group: (scale, zero point) from the range [lo, hi].
struct AffineRange {
  float scale, zero;
  __device__ __forceinline__ AffineRange(float lo, float hi, float qmax) {
    // ATen divides by a scalar as a multiply by its reciprocal.
    scale = clampf((hi - lo) * (1.0f / qmax), kMinScale, kMaxScale);
    zero = rintf(clampf(__fdiv_rn(-lo, scale), -1e4f, 1e4f));
  }
};

// c-bit codes and their Eq. 6 (clamped) or Eq. 8 (extra-precision) slice to r bits.
struct CodeSlicer {
  float qmax, step, inv_step, level_max;
  int shift;
  bool extra_precision;
  __device__ __forceinline__ CodeSlicer(int source_bits, int target_bits, bool extra)
      : qmax(float((1 << source_bits) - 1)),
        step(float(1 << (source_bits - target_bits))),
        inv_step(1.0f / float(1 << (source_bits - target_bits))),
        level_max(float((1 << target_bits) - 1)),
        shift(source_bits - target_bits),
        extra_precision(extra) {}
  // round(v / scale) + zero before the clamp (the straight-through gradient passes where it lies in
  // [0, qmax]).
  __device__ __forceinline__ float unclamped_code(float v, float scale, float zero) const {
    return rintf(__fdiv_rn(v, scale)) + zero;
  }
  __device__ __forceinline__ float sliced(float unclamped) const {
    float code = clampf(unclamped, 0.0f, qmax);
    if (shift > 0) {
      float level = floorf(code * inv_step + 0.5f);
      if (!extra_precision) level = clampf(level, 0.0f, level_max);
      code = level * step;
    }
    return code;
  }
  __device__ __forceinline__ float dequantized(float v, float scale, float zero) const {
    return (sliced(unclamped_code(v, scale, zero)) - zero) * scale;
  }
};

}  // namespace matquant::kernels
