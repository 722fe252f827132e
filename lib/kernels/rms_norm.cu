// Fused RMSNorm with fp32 statistics (Llama and Gemma forms), forward and backward: eager runs
// about eight elementwise and reduction kernels per norm (upcast, square, mean, rsqrt, scale,
// weight, downcast), four norms per Gemma-2 block.
#include "kernels/kernel_common.cuh"

#include <algorithm>
#include <type_traits>

namespace matquant::kernels {
namespace {

constexpr int kMaxColumnsPerThread = 32;  // widths up to 8192 keep their dw sums in registers

template <typename T>
__device__ __forceinline__ float norm_output(float n, float w, bool adds_one) {  // T: x's dtype
  // Gemma: (n * (1 + w)).to(T); Llama: w * n.to(T), multiplied in T.
  return adds_one ? round_to<T>(n * (1.0f + w)) : round_to<T>(w * round_to<T>(n));
}

template <typename T, typename W>
__global__ void __launch_bounds__(kThreads)
rms_norm_forward(const T* __restrict__ x, const W* __restrict__ weight, T* __restrict__ y, float* __restrict__ rstd,
                 int64_t width, float eps, bool adds_one) {
  const int64_t row = blockIdx.x;
  const T* in = x + row * width;
  float squares = 0.0f;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < width; j += kThreads) {
    const float v = to_float(in[j]);
    squares += v * v;
  }
  squares = block_reduce(squares, Sum{});
  const float r = rsqrtf(squares / float(width) + eps);
  T* out = y + row * width;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < width; j += kThreads) {
    out[j] = from_float<T>(norm_output<T>(to_float(in[j]) * r, to_float(weight[j]), adds_one));
  }
  if (threadIdx.x == 0) rstd[row] = r;
}

// The same for rows of at most 32 * kPacksPerLane packs of 16 bytes (Gemma-2 2B's 2304 and 9B's 3584
// bf16 columns, Llama's 4096): one warp per row holds the row in registers, so x is read once, the
// reduction is warp shuffles only, and every access is a 16-byte one. The block-per-row form above
// made 2-byte loads and read x twice (4.1 ms of norms per 2B eval batch of 4 x 2048 on the H200).
template <typename T, typename W, int kPacksPerLane>
__global__ void __launch_bounds__(kThreads)
rms_norm_forward_warp_rows(const T* __restrict__ x, const W* __restrict__ weight, T* __restrict__ y,
                           float* __restrict__ rstd, int64_t rows, int width, float eps, bool adds_one) {
  constexpr int kPack = 16 / sizeof(T);
  const int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave; nothing below synchronises the block
  const int lane = threadIdx.x % 32;
  const int packs = width / kPack;
  const uint4* in = reinterpret_cast<const uint4*>(x + row * width);
  uint4 held[kPacksPerLane];  // kept raw: half the registers of floats for bf16 rows
  float squares = 0.0f;
#pragma unroll
  for (int p = 0; p < kPacksPerLane; ++p) {
    if (p * 32 + lane < packs) {
      held[p] = in[p * 32 + lane];
      const T* v = reinterpret_cast<const T*>(&held[p]);
#pragma unroll
      for (int k = 0; k < kPack; ++k) squares += to_float(v[k]) * to_float(v[k]);
    }
  }
  const float r = rsqrtf(warp_sum(squares) / float(width) + eps);
  T* out = y + row * width;
#pragma unroll
  for (int p = 0; p < kPacksPerLane; ++p) {
    const int pack = p * 32 + lane;
    if (pack < packs) {
      const T* v = reinterpret_cast<const T*>(&held[p]);
      float values[kPack], w[kPack];
      load_aligned<kPack>(weight + pack * kPack, w);
#pragma unroll
      for (int k = 0; k < kPack; ++k) values[k] = norm_output<T>(to_float(v[k]) * r, w[k], adds_one);
      store_aligned<kPack>(out + pack * kPack, values);
    }
  }
  if (lane == 0) rstd[row] = r;
}

// Gemma: y = n (1 + w); Llama: y = w n. dn = dy * (1 + w) or dy * w; dw += dy * n;
// dx = rstd * (dn - n * mean(dn * n)). Each block strides over rows and keeps its dw partial
// sums for the columns it owns in registers.
template <typename T, typename W>
__global__ void __launch_bounds__(kThreads)
rms_norm_backward(const T* __restrict__ grad_y, const T* __restrict__ x, const W* __restrict__ weight,
                  const float* __restrict__ rstd, T* __restrict__ grad_x, float* __restrict__ partials,
                  int64_t rows, int64_t width, bool adds_one) {
  float dw[kMaxColumnsPerThread];
  for (int k = 0; k < kMaxColumnsPerThread; ++k) dw[k] = 0.0f;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* in = x + row * width;
    const T* dy = grad_y + row * width;
    const float r = rstd[row];
    float dot = 0.0f;
    int k = 0;
    #pragma unroll 4
    for (int64_t j = threadIdx.x; j < width; j += kThreads, ++k) {
      const float n = to_float(in[j]) * r;
      const float g = to_float(dy[j]);
      const float w = to_float(weight[j]);
      dot += g * (adds_one ? 1.0f + w : w) * n;
      dw[k] += g * n;
    }
    dot = block_reduce(dot, Sum{}) / float(width);
    T* out = grad_x + row * width;
    #pragma unroll 4
    for (int64_t j = threadIdx.x; j < width; j += kThreads) {
      const float n = to_float(in[j]) * r;
      const float w = to_float(weight[j]);
      const float dn = to_float(dy[j]) * (adds_one ? 1.0f + w : w);
      out[j] = from_float<T>(r * (dn - n * dot));
    }
  }
  int k = 0;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < width; j += kThreads, ++k) partials[blockIdx.x * width + j] = dw[k];
}

}  // namespace

int64_t rms_norm_backward_blocks(int64_t rows) { return std::min<int64_t>(rows, 528); }

int launch_rms_norm_forward(Dtype dtype, Dtype weight_dtype, const void* x, const void* weight, void* y, float* rstd,
                            int64_t rows, int64_t width, float eps, bool adds_one, void* stream) {
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      using T = decltype(x_zero);
      using W = decltype(w_zero);
      constexpr int kPack = 16 / sizeof(T);
      const cudaStream_t s = static_cast<cudaStream_t>(stream);
      const int64_t packs = width / kPack;
      const int64_t blocks = (rows + kThreads / 32 - 1) / (kThreads / 32);
      // A pack's weights must be whole 16-byte loads too (so not bf16 weights of fp32 rows).
      constexpr bool kWeightsPack = (kPack * sizeof(W)) % 16 == 0;
      if (kWeightsPack && width % kPack == 0 && aligned16(x) && aligned16(weight) && aligned16(y) &&
          blocks < (int64_t(1) << 31)) {
        const auto warp_rows = [&](auto packs_per_lane) {
          constexpr int kPerLane = decltype(packs_per_lane)::value;
          if constexpr (kWeightsPack) {
            rms_norm_forward_warp_rows<T, W, kPerLane><<<blocks, kThreads, 0, s>>>(
                static_cast<const T*>(x), static_cast<const W*>(weight), static_cast<T*>(y), rstd, rows, int(width),
                eps, adds_one);
          }
          return int(cudaGetLastError());
        };
        if (packs <= 32 * 4) return warp_rows(std::integral_constant<int, 4>{});
        if (packs <= 32 * 8) return warp_rows(std::integral_constant<int, 8>{});
        if (packs <= 32 * 12) return warp_rows(std::integral_constant<int, 12>{});
        if (packs <= 32 * 16) return warp_rows(std::integral_constant<int, 16>{});
      }
      rms_norm_forward<T, W><<<rows, kThreads, 0, s>>>(
          static_cast<const T*>(x), static_cast<const W*>(weight), static_cast<T*>(y), rstd, width, eps, adds_one);
      return int(cudaGetLastError());
    });
  });
}

int launch_rms_norm_backward(Dtype dtype, Dtype weight_dtype, const void* grad_y, const void* x, const void* weight,
                             const float* rstd, void* grad_x, float* weight_partials, int64_t rows, int64_t width,
                             bool adds_one, void* stream) {
  if (width > int64_t(kThreads) * kMaxColumnsPerThread) return int(cudaErrorInvalidValue);
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      using T = decltype(x_zero);
      using W = decltype(w_zero);
      rms_norm_backward<T, W><<<rms_norm_backward_blocks(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(grad_y), static_cast<const T*>(x), static_cast<const W*>(weight), rstd,
          static_cast<T*>(grad_x), weight_partials, rows, width, adds_one);
      return int(cudaGetLastError());
    });
  });
}

}  // namespace matquant::kernels
