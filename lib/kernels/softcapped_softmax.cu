// Fused attention-probability kernel for softcapped attention (Gemma-2): one pass computes
// scale, tanh softcap, mask and a numerically safe softmax in fp32 from the raw Q K^T scores,
// where eager attention runs about eight elementwise kernels over the [B, H, T, T] tensor.
#include "kernels/kernel_common.cuh"

#include <type_traits>

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

__device__ __forceinline__ RowView row_view_at(int64_t row, const bool* mask, const SoftmaxShape& shape) {
  const int64_t q = row % shape.query;
  const int64_t h = (row / shape.query) % shape.heads;
  const int64_t b = row / (shape.query * shape.heads);
  const bool* allowed =
      mask ? mask + b * shape.mask_batch_stride + h * shape.mask_head_stride + q * shape.mask_query_stride : nullptr;
  return {row, allowed};
}

__device__ __forceinline__ RowView row_view(const bool* mask, const SoftmaxShape& shape) {
  return row_view_at(blockIdx.x, mask, shape);
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
// The register kernel with 16-byte loads and stores: each thread owns kPacks packs of
// kPack = 16 / sizeof(T) consecutive keys, reads the mask kPack bytes at a time and skips the scores of
// fully masked packs (the upper half of a causal row). Rows whose length is a multiple of kPack,
// aligned (the launcher checks).
template <typename T>
struct ScorePack {
  static constexpr int kPack = 16 / sizeof(T);
};

// The mask bytes of pack p (kPack bools, nonzero = allowed) as one word: all allowed without a mask,
// none past the row.
template <int kPack>
using MaskWord = std::conditional_t<kPack == 8, unsigned long long, uint32_t>;

template <int kPack>
__device__ __forceinline__ MaskWord<kPack> load_mask_word(const bool* __restrict__ allowed_row, int64_t p,
                                                           int64_t packs) {
  using Word = MaskWord<kPack>;
  if (p >= packs) return 0;
  if (!allowed_row) return ~Word(0);
  return __ldg(reinterpret_cast<const Word*>(allowed_row + p * kPack));
}

__device__ __forceinline__ bool any_bits(const uint4& v) { return (v.x | v.y | v.z | v.w) != 0; }

// Pack p (kPack consecutive keys) of a row as capped scores, -inf where masked or past the row;
// the scores of a fully masked pack are not read.
template <typename T>
__device__ __forceinline__ void load_capped_pack(const uint4* __restrict__ in, const bool* __restrict__ allowed_row,
                                                 int64_t p, int64_t packs, float scale, float cap,
                                                 float (&x)[ScorePack<T>::kPack]) {
  constexpr int kPack = ScorePack<T>::kPack;
  const MaskWord<kPack> allowed = load_mask_word<kPack>(allowed_row, p, packs);
  uint4 raw = make_uint4(0, 0, 0, 0);
  if (allowed != 0) raw = in[p];
  const T* values = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int e = 0; e < kPack; ++e) x[e] = (allowed >> (8 * e)) & 0xff ? capped_score(values[e], scale, cap) : -INFINITY;
}

template <typename T>
__device__ __forceinline__ uint4 pack_probabilities(const float (&x)[ScorePack<T>::kPack], float inv) {
  uint4 raw;
  T* values = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int e = 0; e < ScorePack<T>::kPack; ++e) values[e] = from_float<T>(x[e] * inv);
  return raw;
}

template <typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffff, v, offset));
  return v;
}

// Rows of up to 32 * kPacks packs: one warp per row, shuffle reductions only, where one block per
// row left each thread a single load and two block barriers (latency-bound at Gemma-2's 2048 keys).
// The loads run in two rounds with every load of a round in flight at once: all mask words, then
// the scores of every pack with an allowed key (the upper half of a causal row is never read). A
// live pack is computed whole and masked by a select: the former per-key branches made the kernel
// instruction-bound (about 1.1 TB/s at 2B's shape).
template <typename T, int kPacks>
__global__ void __launch_bounds__(kThreads)
softmax_forward_warp(const T* __restrict__ scores, const bool* __restrict__ mask, T* __restrict__ probs,
                     float* __restrict__ lse, SoftmaxShape shape, float scale, float cap, int64_t rows) {
  constexpr int kPack = ScorePack<T>::kPack;
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp: nothing below synchronizes the block
  const RowView view = row_view_at(row, mask, shape);
  const int64_t packs = shape.key / kPack;
  const uint4* in = reinterpret_cast<const uint4*>(scores + row * shape.key);
  MaskWord<kPack> allowed[kPacks];
#pragma unroll
  for (int k = 0; k < kPacks; ++k) allowed[k] = load_mask_word<kPack>(view.allowed, lane + int64_t(k) * 32, packs);
  uint4 raw[kPacks];
#pragma unroll
  for (int k = 0; k < kPacks; ++k) raw[k] = allowed[k] != 0 ? in[lane + int64_t(k) * 32] : make_uint4(0, 0, 0, 0);
  // A pack with no allowed key (half of a causal row) skips the arithmetic: its probabilities are 0.
  float x[kPacks][kPack];
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const T* values = reinterpret_cast<const T*>(&raw[k]);
#pragma unroll
    for (int e = 0; e < kPack; ++e) x[k][e] = -INFINITY;
    if (allowed[k] != 0) {
#pragma unroll
      for (int e = 0; e < kPack; ++e) {
        const float v = capped_score(values[e], scale, cap);
        x[k][e] = (allowed[k] >> (8 * e)) & 0xff ? v : -INFINITY;
        m = fmaxf(m, x[k][e]);
      }
    }
  }
  m = warp_reduce(m, Max{});
  // A fully masked row: exp(-inf - 0) = 0 everywhere. A row whose allowed scores are all NaN (fmaxf
  // drops NaN, so m = -inf) gives NaN at those keys, as eager softmax does; the block kernels write
  // zeros there. Writing zeros here too took 10 more registers (96, from 86).
  const float shift = m == -INFINITY ? 0.0f : m;
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    if (allowed[k] == 0) {
#pragma unroll
      for (int e = 0; e < kPack; ++e) x[k][e] = 0.0f;
      continue;
    }
#pragma unroll
    for (int e = 0; e < kPack; ++e) {
      x[k][e] = __expf(x[k][e] - shift);
      sum += x[k][e];
    }
  }
  sum = warp_reduce(sum, Sum{});
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  uint4* out = reinterpret_cast<uint4*>(probs + row * shape.key);
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int64_t p = lane + int64_t(k) * 32;
    if (p < packs) out[p] = pack_probabilities<T>(x[k], inv);
  }
  if (lane == 0) lse[row] = sum > 0.0f ? m + logf(sum) : -INFINITY;
}

template <typename T, int kPacks>
__global__ void __launch_bounds__(kThreads)
softmax_forward_packed(const T* __restrict__ scores, const bool* __restrict__ mask, T* __restrict__ probs,
                       float* __restrict__ lse, SoftmaxShape shape, float scale, float cap) {
  constexpr int kPack = ScorePack<T>::kPack;
  const RowView view = row_view(mask, shape);
  const int64_t packs = shape.key / kPack;
  const uint4* in = reinterpret_cast<const uint4*>(scores + view.row * shape.key);
  float x[kPacks][kPack];
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    load_capped_pack<T>(in, view.allowed, threadIdx.x + int64_t(k) * kThreads, packs, scale, cap, x[k]);
#pragma unroll
    for (int e = 0; e < kPack; ++e) m = fmaxf(m, x[k][e]);
  }
  m = block_reduce(m, Max{});
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
#pragma unroll
    for (int e = 0; e < kPack; ++e) {
      x[k][e] = m == -INFINITY || x[k][e] == -INFINITY ? 0.0f : __expf(x[k][e] - m);
      sum += x[k][e];
    }
  }
  sum = block_reduce(sum, Sum{});
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  uint4* out = reinterpret_cast<uint4*>(probs + view.row * shape.key);
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int64_t p = threadIdx.x + int64_t(k) * kThreads;
    if (p >= packs) continue;
    out[p] = pack_probabilities<T>(x[k], inv);
  }
  if (threadIdx.x == 0) lse[view.row] = sum > 0.0f ? m + logf(sum) : -INFINITY;
}

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
// x = log p + lse recovered from the saved probabilities (p = 0 contributes nothing). inv_cap = 1 / cap,
// 0 without a cap. bf16 rows take __logf (one MUFU instruction, error near 1e-6 against the 4e-3 a
// bf16 probability carries); with logf and an IEEE division the warp kernel's inlined slow paths
// needed 210 registers.
template <typename T>
__device__ __forceinline__ float softmax_input_gradient(float pj, float dpj, float dot, float row_lse, float scale,
                                                       float inv_cap) {
  if (!(pj > 0.0f)) return 0.0f;
  float g = pj * (dpj - dot) * scale;
  if (inv_cap > 0.0f) {
    const float log_p = std::is_same_v<T, float> ? logf(pj) : __logf(pj);
    const float t = (log_p + row_lse) * inv_cap;
    g *= 1.0f - t * t;
  }
  return g;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
softmax_backward(const T* __restrict__ grad_probs, const T* __restrict__ probs, const float* __restrict__ lse,
                 T* __restrict__ grad_scores, int64_t cols,
                 float scale, float inv_cap) {
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
    out[j] = from_float<T>(softmax_input_gradient<T>(to_float(p[j]), to_float(dp[j]), dot, row_lse, scale, inv_cap));
  }
}

// softmax_backward with 16-byte loads and stores (rows a multiple of the pack, aligned).
template <typename T>
__global__ void __launch_bounds__(kThreads)
softmax_backward_packed(const T* __restrict__ grad_probs, const T* __restrict__ probs, const float* __restrict__ lse,
                        T* __restrict__ grad_scores, int64_t cols, float scale, float inv_cap) {
  constexpr int kPack = ScorePack<T>::kPack;
  const int64_t row = blockIdx.x;
  const int64_t packs = cols / kPack;
  const uint4* dp = reinterpret_cast<const uint4*>(grad_probs + row * cols);
  const uint4* p = reinterpret_cast<const uint4*>(probs + row * cols);
  float dot = 0.0f;
  for (int64_t i = threadIdx.x; i < packs; i += kThreads) {
    const uint4 a = dp[i], b = p[i];
    const T* av = reinterpret_cast<const T*>(&a);
    const T* bv = reinterpret_cast<const T*>(&b);
#pragma unroll
    for (int e = 0; e < kPack; ++e) dot += to_float(av[e]) * to_float(bv[e]);
  }
  dot = block_reduce(dot, Sum{});
  const float row_lse = lse[row];
  uint4* out = reinterpret_cast<uint4*>(grad_scores + row * cols);
  for (int64_t i = threadIdx.x; i < packs; i += kThreads) {
    const uint4 a = dp[i], b = p[i];
    const T* av = reinterpret_cast<const T*>(&a);
    const T* bv = reinterpret_cast<const T*>(&b);
    uint4 raw;
    T* values = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int e = 0; e < kPack; ++e) {
      values[e] = from_float<T>(softmax_input_gradient<T>(to_float(bv[e]), to_float(av[e]), dot, row_lse, scale, inv_cap));
    }
    out[i] = raw;
  }
}

// The warp-per-row form of softmax_backward_packed for rows of up to 32 * kPacks packs. The row is
// held in registers as loaded (bf16 pairs), so it is read once; every probability load is in flight
// at once, then every gradient load of a pack whose probabilities are not all zero: where p = 0 the
// gradient is 0 whatever dp holds (softmax_input_gradient), so the masked half of a causal row's dp
// is never read, and its products are left out of the dot as well.
template <typename T, int kPacks>
__global__ void __launch_bounds__(kThreads, 2)
softmax_backward_warp(const T* __restrict__ grad_probs, const T* __restrict__ probs, const float* __restrict__ lse,
                      T* __restrict__ grad_scores, int64_t rows, int64_t cols, float scale, float inv_cap) {
  constexpr int kPack = ScorePack<T>::kPack;
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int64_t packs = cols / kPack;
  const uint4* dp = reinterpret_cast<const uint4*>(grad_probs + row * cols);
  const uint4* p = reinterpret_cast<const uint4*>(probs + row * cols);
  uint4 p_raw[kPacks], dp_raw[kPacks];
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int64_t i = lane + int64_t(k) * 32;
    p_raw[k] = i < packs ? p[i] : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int k = 0; k < kPacks; ++k) dp_raw[k] = any_bits(p_raw[k]) ? dp[lane + int64_t(k) * 32] : make_uint4(0, 0, 0, 0);
  float dot = 0.0f;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const T* av = reinterpret_cast<const T*>(&dp_raw[k]);
    const T* bv = reinterpret_cast<const T*>(&p_raw[k]);
#pragma unroll
    for (int e = 0; e < kPack; ++e) dot += to_float(av[e]) * to_float(bv[e]);
  }
  dot = warp_reduce(dot, Sum{});
  const float row_lse = lse[row];
  uint4* out = reinterpret_cast<uint4*>(grad_scores + row * cols);
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int64_t i = lane + int64_t(k) * 32;
    if (i >= packs) continue;
    const T* av = reinterpret_cast<const T*>(&dp_raw[k]);
    const T* bv = reinterpret_cast<const T*>(&p_raw[k]);
    uint4 raw = make_uint4(0, 0, 0, 0);
    if (any_bits(p_raw[k])) {
      T* values = reinterpret_cast<T*>(&raw);
#pragma unroll
      for (int e = 0; e < kPack; ++e) {
        values[e] = from_float<T>(softmax_input_gradient<T>(to_float(bv[e]), to_float(av[e]), dot, row_lse, scale, inv_cap));
      }
    }
    out[i] = raw;
  }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

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
    constexpr int kPack = ScorePack<T>::kPack;
    const bool mask_packed = mask == nullptr || (aligned(mask, kPack) && shape.mask_batch_stride % kPack == 0 &&
                                                 shape.mask_head_stride % kPack == 0 &&
                                                 shape.mask_query_stride % kPack == 0);
    const bool packed = shape.key % kPack == 0 && aligned(in, 16) && aligned(out, 16) && mask_packed;
    const int64_t warp_blocks = (rows + kThreads / 32 - 1) / (kThreads / 32);
    if (packed && shape.key <= 4 * 32 * kPack) {
      softmax_forward_warp<T, 4><<<warp_blocks, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap, rows);
    } else if (packed && shape.key <= 8 * 32 * kPack) {
      softmax_forward_warp<T, 8><<<warp_blocks, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap, rows);
    } else if (packed && shape.key <= 4 * kPack * kThreads) {
      if (shape.key <= kPack * kThreads) {
        softmax_forward_packed<T, 1><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
      } else if (shape.key <= 2 * kPack * kThreads) {
        softmax_forward_packed<T, 2><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
      } else {
        softmax_forward_packed<T, 4><<<rows, kThreads, 0, cuda_stream>>>(in, mask, out, lse, shape, scale, cap);
      }
    } else if (shape.key <= 4 * kThreads) {
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
  const float inv_cap = cap > 0.0f ? 1.0f / cap : 0.0f;  // the kernels' reciprocal cap (0: none)
  return dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    constexpr int kPack = ScorePack<T>::kPack;
    const bool packed = cols % kPack == 0 && aligned(grad_probs, 16) && aligned(probs, 16) && aligned(grad_scores, 16);
    const int64_t warp_blocks = (rows + kThreads / 32 - 1) / (kThreads / 32);
    const auto* dp = static_cast<const T*>(grad_probs);
    const auto* p = static_cast<const T*>(probs);
    auto* out = static_cast<T*>(grad_scores);
    if (packed && cols <= 4 * 32 * kPack) {
      softmax_backward_warp<T, 4><<<warp_blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          dp, p, lse, out, rows, cols, scale, inv_cap);
      return int(cudaGetLastError());
    }
    if (packed && cols <= 8 * 32 * kPack) {
      softmax_backward_warp<T, 8><<<warp_blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          dp, p, lse, out, rows, cols, scale, inv_cap);
      return int(cudaGetLastError());
    }
    if (packed) {
      softmax_backward_packed<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(grad_probs), static_cast<const T*>(probs), lse, static_cast<T*>(grad_scores), cols,
          scale, inv_cap);
      return int(cudaGetLastError());
    }
    softmax_backward<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(grad_probs), static_cast<const T*>(probs), lse, static_cast<T*>(grad_scores), cols,
        scale, inv_cap);
    return int(cudaGetLastError());
  });
}

}  // namespace matquant::kernels
