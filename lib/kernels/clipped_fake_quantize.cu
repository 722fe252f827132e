// OmniQuant's learnable weight clipping (quant::LearnableClipping, paper Eq. 3) fused with the
// fake-quantize-and-slice of QuantizedLinear: one block per quantization group. The ATen composition
// runs some thirty kernels over the whole weight per precision and step, forward and backward
// (docs/performance.md, "OmniQuant"); here the forward reads the group twice and writes it once,
// and the backward reads the weight and its gradient once and reduces them to the group's two
// clipping gradients (plus the weight's own gradient when it is trained, as under LET).
#include "kernels/fake_quant_math.cuh"

namespace matquant::kernels {
namespace {

// What the backward needs per group, written by the forward: [rows, kSaved] fp32.
enum Saved { kScale, kZero, kMin, kMax, kGamma, kBeta, kArgMin, kArgMax, kSaved };

template <typename T, typename O>
__global__ void __launch_bounds__(kThreads)
clipped_fake_quantize_forward(const T* __restrict__ weight, const float* __restrict__ gammas,
                              const float* __restrict__ betas, O* __restrict__ out, float* __restrict__ saved,
                              int64_t cols, int source_bits, int target_bits, bool extra_precision) {
  const int64_t row = blockIdx.x;
  const T* in = weight + row * cols;
  const GroupRange group = group_range(in, cols);
  const float lo = group.lo, hi = group.hi;
  const CodeSlicer slicer(source_bits, target_bits, extra_precision);
  const float gamma = gammas[row];
  const float beta = betas[row];
  // Rounded products (__fmul_rn): the compiler would otherwise fuse them into the range's
  // subtraction, and the scale would differ from ATen's in the last place.
  const AffineRange range(__fmul_rn(beta, lo), __fmul_rn(gamma, hi), slicer.qmax);
  // at::min / at::max over a dimension send their gradient to one element; the first is taken
  // (indices below 2^24 are exact in fp32).
  float first_min = INFINITY, first_max = INFINITY;
  O* o = out + row * cols;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    const float v = to_float(in[j]);
    if (v == lo) first_min = fminf(first_min, float(j));
    if (v == hi) first_max = fminf(first_max, float(j));
    o[j] = from_float<O>(slicer.dequantized(v, range.scale, range.zero));
  }
  first_min = block_reduce(first_min, Min{});
  first_max = block_reduce(first_max, Min{});
  if (threadIdx.x == 0) {
    float* s = saved + row * kSaved;
    s[kScale] = range.scale;
    s[kZero] = range.zero;
    s[kMin] = lo;
    s[kMax] = hi;
    s[kGamma] = gamma;
    s[kBeta] = beta;
    s[kArgMin] = first_min;
    s[kArgMax] = first_max;
  }
}

// The composition's gradient, term by term: out = (q - z) s with q the sliced straight-through code
// of round(w / s) + z (z detached), s = clamp((gamma max - beta min) / qmax), gamma = sigmoid(a),
// beta = sigmoid(b). Per element, the product gives g (q - z) to s, and the division, where the
// code is not clamped, g s / s to w and -(g s) (w / s) / s to s.
template <typename T>
__global__ void __launch_bounds__(kThreads)
clipped_fake_quantize_backward(const T* __restrict__ grad_out, const T* __restrict__ weight,
                               const float* __restrict__ saved, T* __restrict__ grad_weight,
                               float* __restrict__ grad_upper, float* __restrict__ grad_lower, int64_t cols,
                               int source_bits, int target_bits, bool extra_precision) {
  const int64_t row = blockIdx.x;
  const float* s = saved + row * kSaved;
  const float scale = s[kScale], zero = s[kZero];
  const CodeSlicer slicer(source_bits, target_bits, extra_precision);
  const T* g_row = grad_out + row * cols;
  const T* w_row = weight + row * cols;
  // The straight-through part of one element's weight gradient, and its two terms of d scale.
  auto element = [&](int64_t j, float& by_product, float& by_division) {
    const float g = to_float(g_row[j]);
    const float v = to_float(w_row[j]);
    const float unclamped = slicer.unclamped_code(v, scale, zero);
    by_product = g * (slicer.sliced(unclamped) - zero);
    const float passed = unclamped >= 0.0f && unclamped <= slicer.qmax ? g * scale : 0.0f;
    by_division = -(passed * __fdiv_rn(__fdiv_rn(v, scale), scale));
    return __fdiv_rn(passed, scale);
  };
  float product_sum = 0.0f, division_sum = 0.0f;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    float by_product, by_division;
    const float straight = element(j, by_product, by_division);
    product_sum += by_product;
    division_sum += by_division;
    if (grad_weight) grad_weight[row * cols + j] = from_float<T>(straight);
  }
  product_sum = block_reduce(product_sum, Sum{});
  division_sum = block_reduce(division_sum, Sum{});
  if (threadIdx.x != 0) return;
  const float grad_scale = product_sum + division_sum;
  const float gamma = s[kGamma], beta = s[kBeta], lo = s[kMin], hi = s[kMax];
  const float unclamped_scale = (__fmul_rn(gamma, hi) - __fmul_rn(beta, lo)) * (1.0f / slicer.qmax);
  const bool scale_passes = unclamped_scale >= kMinScale && unclamped_scale <= kMaxScale;
  const float grad_upper_range = scale_passes ? grad_scale * (1.0f / slicer.qmax) : 0.0f;
  const float grad_lower_range = -grad_upper_range;
  grad_upper[row] = grad_upper_range * hi * (1.0f - gamma) * gamma;
  grad_lower[row] = grad_lower_range * lo * (1.0f - beta) * beta;
  // A NaN range (a NaN weight in the group) matched no element: nothing to route.
  if (grad_weight && s[kArgMin] < float(cols) && s[kArgMax] < float(cols)) {
    // The range's own gradient reaches the group's first minimum and maximum; every thread's
    // straight-through write above is visible after the reductions' barriers.
    const int64_t at_min = int64_t(s[kArgMin]), at_max = int64_t(s[kArgMax]);
    float unused_product, unused_division;
    const float base_max = element(at_max, unused_product, unused_division);
    if (at_min == at_max) {
      grad_weight[row * cols + at_max] = from_float<T>(base_max + grad_upper_range * gamma + grad_lower_range * beta);
      return;
    }
    const float base_min = element(at_min, unused_product, unused_division);
    grad_weight[row * cols + at_max] = from_float<T>(base_max + grad_upper_range * gamma);
    grad_weight[row * cols + at_min] = from_float<T>(base_min + grad_lower_range * beta);
  }
}

}  // namespace

int launch_clipped_fake_quantize_forward(Dtype dtype, const void* weight, const float* gamma, const float* beta,
                                         void* out, float* saved, int64_t rows, int64_t cols,
                                         int source_bits, int target_bits, bool extra_precision, void* stream) {
  if (source_bits < 1 || source_bits > 16 || target_bits < 1 || target_bits > source_bits || cols >= (1 << 24)) {
    return int(cudaErrorInvalidValue);
  }
  if (rows == 0 || cols == 0) return 0;
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    clipped_fake_quantize_forward<T, T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(weight), gamma, beta, static_cast<T*>(out), saved, cols, source_bits,
        target_bits, extra_precision);
    return int(cudaGetLastError());
  });
}

int launch_clipped_fake_quantize_backward(Dtype dtype, const void* grad_out, const void* weight, const float* saved,
                                          void* grad_weight, float* grad_upper, float* grad_lower, int64_t rows,
                                          int64_t cols, int source_bits, int target_bits, bool extra_precision,
                                          void* stream) {
  if (rows == 0 || cols == 0) return 0;
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    clipped_fake_quantize_backward<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(grad_out), static_cast<const T*>(weight), saved, static_cast<T*>(grad_weight),
        grad_upper, grad_lower, cols, source_bits, target_bits, extra_precision);
    return int(cudaGetLastError());
  });
}

}  // namespace matquant::kernels
