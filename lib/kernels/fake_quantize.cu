// Fused MinMax fake-quantize-and-slice (the QAT weight path of QuantizedLinear): one block per
// quantization group reads the weights twice (range, then codes) and writes the dequantized
// weights once, where the ATen composition runs about a dozen kernels. Every operation mirrors
// quant::minmax_params / quantize_codes_ste / slice_codes_ste / dequantize_codes on CUDA in the
// same order and fp32 rounding (division by a scalar is a multiply by its reciprocal there), so
// results are bit-identical to the ATen path.
#include "kernels/fake_quant_math.cuh"

#include <algorithm>
#include <cstdlib>

namespace matquant::kernels {
namespace {

// Four consecutive outputs at once (8 or 16 bytes): one store per pack.
template <typename O> struct Pack4;
template <> struct Pack4<float> { using type = float4; };
template <> struct Pack4<__nv_bfloat16> { using type = uint2; };

template <typename O>
__device__ __forceinline__ typename Pack4<O>::type pack4(float a, float b, float c, float d) {
  typename Pack4<O>::type out;
  O* values = reinterpret_cast<O*>(&out);
  values[0] = from_float<O>(a);
  values[1] = from_float<O>(b);
  values[2] = from_float<O>(c);
  values[3] = from_float<O>(d);
  return out;
}

template <typename T, typename O>
__global__ void __launch_bounds__(kThreads)
fake_quantize_forward(const T* __restrict__ weight, O* __restrict__ out, float* __restrict__ scales,
                      float* __restrict__ zeros, int32_t* __restrict__ row_inside, int64_t cols, int source_bits,
                      int target_bits, bool extra_precision, bool given_range) {
  const int64_t row = blockIdx.x;
  const T* in = weight + row * cols;
  const CodeSlicer slicer(source_bits, target_bits, extra_precision);
  // given_range: scales and zeros already hold this weight's (an earlier precision of the same step
  // wrote them), so the pass that reads the row for its range is skipped and nothing is written.
  float scale, zero, lo = 0.0f, hi = 0.0f;
  if (given_range) {
    scale = scales[row];
    zero = zeros[row];
  } else {
    const GroupRange group = group_range(in, cols);
    lo = group.lo;
    hi = group.hi;
    const AffineRange range(lo, hi, slicer.qmax);
    scale = range.scale;
    zero = range.zero;
  }
  auto dequantized = [&](float v) { return slicer.dequantized(v, scale, zero); };
  if (row_inside && !given_range && threadIdx.x == 0) {
    // The unclamped code rint(v / s) + z is monotonic in v (s > 0), so the row's extremes bound
    // every element's; a NaN makes lo and hi NaN and the row unflagged.
    row_inside[row] = slicer.unclamped_code(lo, scale, zero) >= 0.0f &&
                      slicer.unclamped_code(hi, scale, zero) <= slicer.qmax;
  }
  O* o = out + row * cols;
  if constexpr (std::is_same_v<T, float>) {
    if (cols % 4 == 0 && reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(o) % sizeof(typename Pack4<O>::type) == 0) {
      const float4* packs = reinterpret_cast<const float4*>(in);
      auto* out_packs = reinterpret_cast<typename Pack4<O>::type*>(o);
      for (int64_t i = threadIdx.x; i < cols / 4; i += kThreads) {
        const float4 v = packs[i];
        out_packs[i] = pack4<O>(dequantized(v.x), dequantized(v.y), dequantized(v.z), dequantized(v.w));
      }
      if (threadIdx.x == 0 && !given_range) {
        scales[row] = scale;
        zeros[row] = zero;
      }
      return;
    }
  }
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) o[j] = from_float<O>(dequantized(to_float(in[j])));
  if (threadIdx.x == 0 && !given_range) {
    scales[row] = scale;
    zeros[row] = zero;
  }
}

// Every precision of a step from one read of the fp32 row: MatQuant's precisions share the c-bit
// codes and differ only in the slice, so the first precision's pass writes the bf16 weights of the
// others too. A row stays in registers between the range and the codes (one DRAM read of it): up to
// kPacks (at most kCachedPacks) 4-value packs per thread, in a block of kBlock threads, by default the
// smallest block that holds the row, so short rows (Gemma-2's 2304) still leave many rows in flight
// per SM. Each output is bit-identical to a single-output launch.
constexpr int kCachedPacks = 12;
constexpr int kManyMaxBlock = 256;  // rows of up to 12288 values

template <int kBlock, typename Op>
__device__ __forceinline__ float reduce_in_block(float v, Op op) {
  __shared__ float partial[kBlock / 32];
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffff, v, offset));
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = partial[0];
#pragma unroll
  for (int w = 1; w < kBlock / 32; ++w) total = op(total, partial[w]);
  __syncthreads();  // partial is reused by the next reduction
  return total;
}

template <int kBlock, int kPacks>
__global__ void __launch_bounds__(kBlock)
fake_quantize_forward_many(const float4* __restrict__ weight, ManyBf16Outputs outs, float* __restrict__ scales,
                           float* __restrict__ zeros, int32_t* __restrict__ row_inside, int64_t cols, int source_bits,
                           bool extra_precision) {
  const int64_t row = blockIdx.x;
  const int64_t packs = cols / 4;
  const float4* in = weight + row * packs;
  float4 v[kPacks];
  float lo = INFINITY, hi = -INFINITY;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int64_t i = threadIdx.x + int64_t(k) * kBlock;
    v[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);  // past the row: coded below, never stored
    if (i < packs) {
      v[k] = in[i];
      lo = NanMin{}(NanMin{}(lo, v[k].x), NanMin{}(v[k].y, NanMin{}(v[k].z, v[k].w)));
      hi = NanMax{}(NanMax{}(hi, v[k].x), NanMax{}(v[k].y, NanMax{}(v[k].z, v[k].w)));
    }
  }
  lo = reduce_in_block<kBlock>(lo, NanMin{});
  hi = reduce_in_block<kBlock>(hi, NanMax{});
  const CodeSlicer first(source_bits, outs.target_bits[0], extra_precision);
  const AffineRange range(lo, hi, first.qmax);
  if (threadIdx.x == 0) {
    scales[row] = range.scale;
    zeros[row] = range.zero;
    // As fake_quantize_forward: the unclamped code is monotonic in the weight.
    if (row_inside) {
      row_inside[row] = first.unclamped_code(lo, range.scale, range.zero) >= 0.0f &&
                        first.unclamped_code(hi, range.scale, range.zero) <= first.qmax;
    }
  }
  // Codes once, then each output's slice of them.
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    v[k] = make_float4(first.unclamped_code(v[k].x, range.scale, range.zero),
                       first.unclamped_code(v[k].y, range.scale, range.zero),
                       first.unclamped_code(v[k].z, range.scale, range.zero),
                       first.unclamped_code(v[k].w, range.scale, range.zero));
  }
#pragma unroll
  for (int o = 0; o < kMaxManyOutputs; ++o) {
    if (o >= outs.count) break;
    const CodeSlicer slicer(source_bits, outs.target_bits[o], extra_precision);
    uint2* out = reinterpret_cast<uint2*>(outs.out[o]) + row * packs;
    auto dequantized = [&](float code) { return (slicer.sliced(code) - range.zero) * range.scale; };
#pragma unroll
    for (int k = 0; k < kPacks; ++k) {
      const int64_t i = threadIdx.x + int64_t(k) * kBlock;
      if (i < packs) {
        out[i] = pack4<__nv_bfloat16>(dequantized(v[k].x), dequantized(v[k].y), dequantized(v[k].z),
                                      dequantized(v[k].w));
      }
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
fake_quantize_backward(const T* __restrict__ grad_out, const T* __restrict__ weight, const float* __restrict__ scales,
                       const float* __restrict__ zeros, T* __restrict__ grad_weight,
                       int64_t cols, int source_bits) {
  const int64_t row = blockIdx.x;
  const float scale = scales[row];
  const float zero = zeros[row];
  const float qmax = float((1 << source_bits) - 1);
  #pragma unroll 4
  for (int64_t j = row * cols + threadIdx.x; j < (row + 1) * cols; j += kThreads) {
    const float code = rintf(__fdiv_rn(to_float(weight[j]), scale)) + zero;
    const bool inside = code >= 0.0f && code <= qmax;  // clamp passes the gradient on [0, qmax]
    grad_weight[j] = from_float<T>(inside ? __fdiv_rn(to_float(grad_out[j]) * scale, scale) : 0.0f);
  }
}

// The same straight-through gradient from a bf16 weight gradient (the matmul's, before any cast),
// added to (or, first, written into) the fp32 master gradient: the cast, the backward and the
// accumulation of the composed path in one pass, with the same fp32 operations in the same order.
__device__ __forceinline__ float straight_through(float grad, float w, float scale, float zero, float qmax) {
  const float code = rintf(__fdiv_rn(w, scale)) + zero;
  const bool inside = code >= 0.0f && code <= qmax;
  return inside ? __fdiv_rn(grad * scale, scale) : 0.0f;
}

__global__ void __launch_bounds__(kThreads)
fake_quantize_accumulate(const __nv_bfloat16* __restrict__ grad_out, const float* __restrict__ weight,
                         const float* __restrict__ scales, const float* __restrict__ zeros,
                         float* __restrict__ master_grad, int64_t cols, int source_bits, bool accumulate) {
  const int64_t row = blockIdx.x;
  const float scale = scales[row];
  const float zero = zeros[row];
  const float qmax = float((1 << source_bits) - 1);
  #pragma unroll 4
  for (int64_t j = row * cols + threadIdx.x; j < (row + 1) * cols; j += kThreads) {
    const float g = straight_through(to_float(grad_out[j]), weight[j], scale, zero, qmax);
    master_grad[j] = accumulate ? master_grad[j] + g : g;
  }
}

// The flat, four-wide form (cols a multiple of 4, aligned pointers): 16-byte loads of the weight
// and the master gradient, 8-byte loads of the bf16 gradients, a grid-stride loop over all rows,
// so short rows (groups) do not leave most threads of a block idle. Several bf16 gradients of the
// same weight and range (one per precision of a step) are added in the order given, with the same
// fp32 operations as one pass per gradient, reading and writing the master gradient once.
__global__ void __launch_bounds__(kThreads)
fake_quantize_accumulate_vec4(AccumulatedGradients grads, const float4* __restrict__ weight,
                              const float* __restrict__ scales, const float* __restrict__ zeros,
                              float4* __restrict__ master_grad, const int32_t* __restrict__ row_inside,
                              int64_t packs, int64_t packs_per_row, int source_bits, bool accumulate) {
  const float qmax = float((1 << source_bits) - 1);
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < packs; i += int64_t(gridDim.x) * kThreads) {
    const int64_t row = i / packs_per_row;
    const float scale = scales[row];
    const float zero = zeros[row];
    const bool inside = row_inside && row_inside[row];
    uint2 raw[kMaxAccumulatedGradients];
#pragma unroll
    for (int c = 0; c < kMaxAccumulatedGradients; ++c) {
      if (c < grads.count) raw[c] = static_cast<const uint2*>(grads.grad[c])[i];
    }
    const float4 w = inside ? float4{} : weight[i];  // every code inside: the weight is not needed
    float4 d = accumulate ? master_grad[i] : float4{};
#pragma unroll
    for (int c = 0; c < kMaxAccumulatedGradients; ++c) {
      if (c >= grads.count) break;
      const __nv_bfloat16* g = reinterpret_cast<const __nv_bfloat16*>(&raw[c]);
      float4 t;
      if (inside) {  // straight_through's pass-through value
        t.x = __fdiv_rn(to_float(g[0]) * scale, scale);
        t.y = __fdiv_rn(to_float(g[1]) * scale, scale);
        t.z = __fdiv_rn(to_float(g[2]) * scale, scale);
        t.w = __fdiv_rn(to_float(g[3]) * scale, scale);
      } else {
        t.x = straight_through(to_float(g[0]), w.x, scale, zero, qmax);
        t.y = straight_through(to_float(g[1]), w.y, scale, zero, qmax);
        t.z = straight_through(to_float(g[2]), w.z, scale, zero, qmax);
        t.w = straight_through(to_float(g[3]), w.w, scale, zero, qmax);
      }
      d = (c == 0 && !accumulate) ? t : make_float4(d.x + t.x, d.y + t.y, d.z + t.z, d.w + t.w);
    }
    master_grad[i] = d;
  }
}

}  // namespace

int launch_fake_quantize_forward(Dtype dtype, Dtype out_dtype, const void* weight, void* out, float* scale,
                                 float* zero, int64_t rows, int64_t cols, int source_bits, int target_bits,
                                 bool extra_precision, void* stream, int32_t* row_inside, bool given_range) {
  if (source_bits < 1 || source_bits > 16 || target_bits < 1 || target_bits > source_bits) {
    return int(cudaErrorInvalidValue);
  }
  if (rows == 0) return 0;
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    return dispatch(out_dtype, [&](auto y) {
      using O = decltype(y);
      fake_quantize_forward<T, O><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(weight), static_cast<O*>(out), scale, zero, row_inside, cols, source_bits,
          target_bits, extra_precision, given_range);
      return int(cudaGetLastError());
    });
  });
}

namespace {
// Threads per row of the many-output kernel: the smallest of 64, 128 and 256 whose block holds the row
// in kCachedPacks packs per thread. MATQUANT_FAKE_QUANT_ROW_THREADS=128 or 256 asks for a larger block
// (benchmarks compare them in one build); a block too small for the row is never taken.
int many_row_threads(int64_t packs) {
  static const int asked = [] {
    const char* env = std::getenv("MATQUANT_FAKE_QUANT_ROW_THREADS");
    return env ? std::atoi(env) : 0;
  }();
  for (int threads : {64, 128, kManyMaxBlock}) {
    if (packs <= int64_t(threads) * kCachedPacks && threads >= asked) return threads;
  }
  return kManyMaxBlock;
}
}  // namespace

bool fake_quantize_forward_many_supported(int64_t cols) {
  return cols > 0 && cols % 4 == 0 && cols / 4 <= int64_t(kCachedPacks) * kManyMaxBlock;
}

int launch_fake_quantize_forward_many(const float* weight, const ManyBf16Outputs& outs, float* scale, float* zero,
                                      int32_t* row_inside, int64_t rows, int64_t cols, int source_bits,
                                      bool extra_precision, void* stream) {
  if (source_bits < 1 || source_bits > 16 || outs.count < 1 || outs.count > kMaxManyOutputs ||
      !fake_quantize_forward_many_supported(cols) || reinterpret_cast<uintptr_t>(weight) % 16 != 0) {
    return int(cudaErrorInvalidValue);
  }
  for (int o = 0; o < outs.count; ++o) {
    if (outs.target_bits[o] < 1 || outs.target_bits[o] > source_bits || reinterpret_cast<uintptr_t>(outs.out[o]) % 8 != 0) {
      return int(cudaErrorInvalidValue);
    }
  }
  if (rows == 0) return 0;
  const auto s = static_cast<cudaStream_t>(stream);
  const auto* w = reinterpret_cast<const float4*>(weight);
  const int64_t packs = cols / 4;
  const int threads = many_row_threads(packs);
  // Packs per thread: the fewest of 6, 9 and 12 that hold the row (the register cache is sized by it).
  const int64_t per_thread = (packs + threads - 1) / threads;
  const int cached = per_thread <= 6 ? 6 : per_thread <= 9 ? 9 : 12;
  auto launch = [&](auto block, auto cache) {
    fake_quantize_forward_many<decltype(block)::value, decltype(cache)::value>
        <<<rows, decltype(block)::value, 0, s>>>(w, outs, scale, zero, row_inside, cols, source_bits, extra_precision);
  };
  auto with_cache = [&](auto block) {
    if (cached == 6) launch(block, std::integral_constant<int, 6>{});
    else if (cached == 9) launch(block, std::integral_constant<int, 9>{});
    else launch(block, std::integral_constant<int, 12>{});
  };
  if (threads == 64) with_cache(std::integral_constant<int, 64>{});
  else if (threads == 128) with_cache(std::integral_constant<int, 128>{});
  else with_cache(std::integral_constant<int, kManyMaxBlock>{});
  return int(cudaGetLastError());
}

int launch_fake_quantize_backward(Dtype dtype, const void* grad_out, const void* weight, const float* scale,
                                  const float* zero, void* grad_weight, int64_t rows, int64_t cols, int source_bits,
                                  void* stream) {
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    fake_quantize_backward<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(grad_out), static_cast<const T*>(weight), scale, zero, static_cast<T*>(grad_weight),
        cols, source_bits);
    return int(cudaGetLastError());
  });
}

int launch_fake_quantize_accumulate(const AccumulatedGradients& grads, const float* weight, const float* scale,
                                    const float* zero, float* master_grad, int64_t rows, int64_t cols, int source_bits,
                                    bool accumulate, void* stream, const int32_t* row_inside) {
  if (grads.count < 1 || grads.count > kMaxAccumulatedGradients) return int(cudaErrorInvalidValue);
  if (rows == 0 || cols == 0) return 0;
  const auto s = static_cast<cudaStream_t>(stream);
  bool aligned = reinterpret_cast<uintptr_t>(weight) % 16 == 0 && reinterpret_cast<uintptr_t>(master_grad) % 16 == 0;
  for (int c = 0; c < grads.count; ++c) aligned = aligned && reinterpret_cast<uintptr_t>(grads.grad[c]) % 8 == 0;
  if (cols % 4 == 0 && aligned) {
    const int64_t packs = rows * cols / 4;
    const int64_t blocks = std::min<int64_t>((packs + kThreads - 1) / kThreads, 132 * 16);
    fake_quantize_accumulate_vec4<<<blocks, kThreads, 0, s>>>(grads, reinterpret_cast<const float4*>(weight), scale,
                                                              zero, reinterpret_cast<float4*>(master_grad), row_inside,
                                                              packs, cols / 4, source_bits, accumulate);
    return int(cudaGetLastError());
  }
  for (int c = 0; c < grads.count; ++c) {  // one pass per gradient, in order
    fake_quantize_accumulate<<<rows, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(grads.grad[c]), weight, scale,
                                                       zero, master_grad, cols, source_bits, accumulate || c > 0);
    if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return int(e);
  }
  return 0;
}

int launch_fake_quantize_accumulate(const void* grad_out, const float* weight, const float* scale, const float* zero,
                                    float* master_grad, int64_t rows, int64_t cols, int source_bits, bool accumulate,
                                    void* stream, const int32_t* row_inside) {
  AccumulatedGradients grads;
  grads.grad[0] = grad_out;
  grads.count = 1;
  return launch_fake_quantize_accumulate(grads, weight, scale, zero, master_grad, rows, cols, source_bits, accumulate,
                                         stream, row_inside);
}

}  // namespace matquant::kernels
