// Fused attention-probability kernel for softcapped attention (Gemma-2): one pass computes
// scale, tanh softcap, mask and a numerically safe softmax in fp32 from the raw Q K^T scores,
// where eager attention runs about eight elementwise kernels over the [B, H, T, T] tensor.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

template <typename T>
__device__ __forceinline__ float capped_score(T s, float scale, float cap) {
  return softcap<T>(to_float(s) * scale, cap);
}

struct RowView {
  int64_t row;
  const bool* allowed;  // null: no mask
};

__device__ __forceinline__ RowView row_view(const bool* mask, const SoftmaxShape& shape) {
  const int64_t row = blockIdx.x;
  const int64_t q = row % shape.query;
  const int64_t h = (row / shape.query) % shape.heads;
  const int64_t b = row / (shape.query * shape.heads);
  const bool* allowed =
      mask ? mask + b * shape.mask_batch_stride + h * shape.mask_head_stride + q * shape.mask_query_stride : nullptr;
  return {row, allowed};
}

// Rows of up to kPerThread * kThreads keys: each capped score is computed once and kept in
// registers, so the row is read once and tanh / exp run once per element.
template <typename T, int kPerThread>
__global__ void __launch_bounds__(kThreads)
softmax_forward_registers(const T* __restrict__ scores, const bool* __restrict__ mask, T* __restrict__ probs,
                          float* __restrict__ lse, SoftmaxShape shape, float scale,
                          float cap) {
  const RowView view = row_view(mask, shape);
  const int64_t n = shape.key;
  const T* in = scores + view.row * n;
  float x[kPerThread];
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + int64_t(k) * kThreads;
    x[k] = (j >= n || (view.allowed && !view.allowed[j])) ? -INFINITY : capped_score(in[j], scale, cap);
    m = fmaxf(m, x[k]);
  }
  m = block_reduce(m, Max{});
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    x[k] = m == -INFINITY || x[k] == -INFINITY ? 0.0f : __expf(x[k] - m);
    sum += x[k];
  }
  sum = block_reduce(sum, Sum{});
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  T* out = probs + view.row * n;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + int64_t(k) * kThreads;
    if (j < n) out[j] = from_float<T>(x[k] * inv);
  }
  if (threadIdx.x == 0) lse[view.row] = sum > 0.0f ? m + logf(sum) : -INFINITY;
}

// Any row length: online max / sum, then a second read of the row for the output.
template <typename T>
__global__ void __launch_bounds__(kThreads)
softmax_forward(const T* __restrict__ scores, const bool* __restrict__ mask, T* __restrict__ probs,
                float* __restrict__ lse, SoftmaxShape shape, float scale,
                float cap) {
  const RowView view = row_view(mask, shape);
  const int64_t n = shape.key;
  const T* in = scores + view.row * n;
  MaxSum acc{-INFINITY, 0.0f};
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const float x = (view.allowed && !view.allowed[j]) ? -INFINITY : capped_score(in[j], scale, cap);
    add_value(acc, x);
  }
  const MaxSum total = block_reduce(acc, Combine{});
  const float inv = total.s > 0.0f ? 1.0f / total.s : 0.0f;
  T* out = probs + view.row * n;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const bool masked = (view.allowed && !view.allowed[j]) || total.m == -INFINITY;
    out[j] = from_float<T>(masked ? 0.0f : __expf(capped_score(in[j], scale, cap) - total.m) * inv);
  }
  if (threadIdx.x == 0) lse[view.row] = total.s > 0.0f ? total.m + logf(total.s) : -INFINITY;
}

// dx_j = p_j (dp_j - sum_k dp_k p_k); through the cap, dx/ds = scale * (1 - (x / cap)^2) with
// x = log p + lse recovered from the saved probabilities (p = 0 contributes nothing).
template <typename T>
__global__ void __launch_bounds__(kThreads)
softmax_backward(const T* __restrict__ grad_probs, const T* __restrict__ probs, const float* __restrict__ lse,
                 T* __restrict__ grad_scores, int64_t cols,
                 float scale, float cap) {
  const int64_t row = blockIdx.x;
  const T* dp = grad_probs + row * cols;
  const T* p = probs + row * cols;
  float dot = 0.0f;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) dot += to_float(dp[j]) * to_float(p[j]);
  dot = block_reduce(dot, Sum{});
  const float row_lse = lse[row];
  T* out = grad_scores + row * cols;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    const float pj = to_float(p[j]);
    float g = 0.0f;
    if (pj > 0.0f) {
      g = pj * (to_float(dp[j]) - dot) * scale;
      if (cap > 0.0f) {
        const float t = (logf(pj) + row_lse) / cap;
        g *= 1.0f - t * t;
      }
    }
    out[j] = from_float<T>(g);
  }
}

}  // namespace

const char* cuda_error_name(int code) { return cudaGetErrorName(static_cast<cudaError_t>(code)); }

int launch_softcapped_softmax_forward(Dtype dtype, const void* scores, const bool* mask, void* probs, float* lse,
                                      const SoftmaxShape& shape, float scale, float cap, void* stream) {
  const int64_t rows = shape.batch * shape.heads * shape.query;
  return dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    const auto cuda_stream = static_cast<cudaStream_t>(stream);
    const auto* in = static_cast<const T*>(scores);
    auto* out = static_cast<T*>(probs);
    if (shape.key <= 4 * kThreads) {
      softmax_forward_registers<T, 4><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
    } else if (shape.key <= 8 * kThreads) {
      softmax_forward_registers<T, 8><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
    } else if (shape.key <= 16 * kThreads) {
      softmax_forward_registers<T, 16><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
    } else {
      softmax_forward<T><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
    }
    return int(cudaGetLastError());
  });
}

int launch_softcapped_softmax_backward(Dtype dtype, const void* grad_probs, const void* probs, const float* lse,
                                       void* grad_scores, int64_t rows, int64_t cols, float scale, float cap,
                                       void* stream) {
  return dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    softmax_backward<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(grad_probs), static_cast<const T*>(probs), lse, static_cast<T*>(grad_scores), cols,
        scale, cap);
    return int(cudaGetLastError());
  });
}

}  // namespace matquant::kernels
