#pragma once
// Device helpers shared by the fused kernels: dtype conversion, block-wide reductions and the
// online (max, sum-of-exp) pair used by every softmax-like row kernel.
#include "kernels/launchers.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace matquant::kernels {

constexpr int kThreads = 256;  // every row kernel runs one block of this size per row

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
// Rounds through T and back: the value a tensor of dtype T would hold.
template <typename T> __device__ __forceinline__ float round_to(float v) { return to_float(from_float<T>(v)); }

// cap * tanh(v / cap). For bf16 inputs (8 significant bits) tanh comes from one __expf,
// 1 - 2 / (exp(2y) + 1), accurate to about 1e-6 absolute, far below the input's resolution and
// several times cheaper than tanhf; its two divisions are __fdividef (a MUFU reciprocal and a
// product, within 2 ulp): IEEE divisions, with their slow-path branches, made the cross-entropy over
// a 256k vocabulary compute-bound (4.5 ms for 4.2 GB of logits on the H200). exp(2y) = inf gives
// 2 / inf = 0, tanh = 1. fp32 inputs keep tanhf and the IEEE division.
template <typename T>
__device__ __forceinline__ float softcap(float v, float cap) {
  if (cap <= 0.0f) return v;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const float y = __fdividef(v, cap);
    return cap * (1.0f - __fdividef(2.0f, __expf(2.0f * y) + 1.0f));
  } else {
    return cap * tanhf(v / cap);
  }
}

// Running softmax statistics: m = max, s = sum of exp(x - m).
struct MaxSum {
  float m;
  float s;
};
__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};
  return {m, (a.s > 0.0f ? a.s * __expf(a.m - m) : 0.0f) + (b.s > 0.0f ? b.s * __expf(b.m - m) : 0.0f)};
}
__device__ __forceinline__ void add_value(MaxSum& acc, float x) {
  if (x == -INFINITY) return;
  // __expf of non-positive arguments: absolute error far below fp32 resolution of the sum.
  if (x > acc.m) {
    acc.s = acc.s * __expf(acc.m - x) + 1.0f;
    acc.m = x;
  } else {
    acc.s += __expf(x - acc.m);
  }
}

// c += a b for one mma.m16n8k16 (bf16 in, fp32 accumulate): a = 16 x 16 (four bf16x2 registers per
// thread), b = 16 x 8 (two), c = 16 x 8 (four floats), in the PTX ISA's fragment layouts.
__device__ __forceinline__ void mma_bf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint2 b) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b.x), "r"(b.y));
}

__device__ __forceinline__ float shuffle_down(float v, int offset) { return __shfl_down_sync(0xffffffff, v, offset); }
__device__ __forceinline__ MaxSum shuffle_down(MaxSum v, int offset) {
  return {__shfl_down_sync(0xffffffff, v.m, offset), __shfl_down_sync(0xffffffff, v.s, offset)};
}

// Block-wide reduction over kThreads threads (warp shuffles, then one thread over the warps);
// every thread gets the result.
template <typename V, typename Op>
__device__ __forceinline__ V block_reduce(V v, Op op) {
  __shared__ V shared[kThreads / 32];
  __shared__ V result;
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, shuffle_down(v, offset));
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    V total = shared[0];
    for (int w = 1; w < kThreads / 32; ++w) total = op(total, shared[w]);
    result = total;
  }
  __syncthreads();
  return result;
}
struct Combine {
  __device__ MaxSum operator()(MaxSum a, MaxSum b) const { return combine(a, b); }
};
struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct Min {
  __device__ float operator()(float a, float b) const { return fminf(a, b); }
};

// Visits a row's elements f(j, value), with 16-byte loads when the row allows them (length a
// multiple of the pack, 16-byte aligned start): several elements per load keep enough bytes in
// flight to approach the memory bandwidth, which 2-byte loads do not.
template <typename T, typename F>
__device__ __forceinline__ void for_each_in_row(const T* __restrict__ row, int64_t n, F f) {
  constexpr int kPack = 16 / sizeof(T);
  if (n % kPack == 0 && reinterpret_cast<uintptr_t>(row) % 16 == 0) {
    const uint4* packs = reinterpret_cast<const uint4*>(row);
    for (int64_t i = threadIdx.x; i < n / kPack; i += kThreads) {
      const uint4 raw = packs[i];
      const T* values = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int k = 0; k < kPack; ++k) f(i * kPack + k, values[k]);
    }
  } else {
    for (int64_t j = threadIdx.x; j < n; j += kThreads) f(j, row[j]);
  }
}

// out[j] = f(j, in[j]) (f returns float, stored as T), packed like for_each_in_row.
template <typename T, typename F>
__device__ __forceinline__ void map_row(const T* __restrict__ in, T* __restrict__ out, int64_t n, F f) {
  constexpr int kPack = 16 / sizeof(T);
  if (n % kPack == 0 && reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0) {
    const uint4* in_packs = reinterpret_cast<const uint4*>(in);
    uint4* out_packs = reinterpret_cast<uint4*>(out);
    for (int64_t i = threadIdx.x; i < n / kPack; i += kThreads) {
      const uint4 raw = in_packs[i];
      const T* values = reinterpret_cast<const T*>(&raw);
      uint4 result;
      T* results = reinterpret_cast<T*>(&result);
#pragma unroll
      for (int k = 0; k < kPack; ++k) results[k] = from_float<T>(f(i * kPack + k, values[k]));
      out_packs[i] = result;
    }
  } else {
    for (int64_t j = threadIdx.x; j < n; j += kThreads) out[j] = from_float<T>(f(j, in[j]));
  }
}

// N consecutive elements from 16-byte aligned p as floats, in 16-byte loads (N * sizeof(T) must be a
// multiple of 16), and the same for stores: the packed paths of the row kernels.
template <int N, typename T>
__device__ __forceinline__ void load_aligned(const T* __restrict__ p, float (&v)[N]) {
  constexpr int kPerLoad = 16 / sizeof(T);
  static_assert(N % kPerLoad == 0, "whole 16-byte loads only");
#pragma unroll
  for (int i = 0; i < N / kPerLoad; ++i) {
    const uint4 raw = reinterpret_cast<const uint4*>(p)[i];
    const T* values = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int k = 0; k < kPerLoad; ++k) v[i * kPerLoad + k] = to_float(values[k]);
  }
}
template <int N, typename T>
__device__ __forceinline__ void store_aligned(T* __restrict__ p, const float (&v)[N]) {
  constexpr int kPerStore = 16 / sizeof(T);
  static_assert(N % kPerStore == 0, "whole 16-byte stores only");
#pragma unroll
  for (int i = 0; i < N / kPerStore; ++i) {
    uint4 raw;
    T* values = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int k = 0; k < kPerStore; ++k) values[k] = from_float<T>(v[i * kPerStore + k]);
    reinterpret_cast<uint4*>(p)[i] = raw;
  }
}
__host__ __device__ inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffff, v, offset);
  return v;
}

// Dispatch on the runtime dtype to a kernel body templated on the element type.
template <typename Body>
int dispatch(Dtype dtype, Body body) {
  if (dtype == Dtype::kBFloat16) return body(__nv_bfloat16{});
  return body(float{});
}

}  // namespace matquant::kernels
