// Activation fake quantization (quant/activation_quant.h) in one pass over the activations, where
// the ATen composition runs about eight kernels (and MXINT's in float64 tensors). Every operation
// mirrors the ATen path in the same order and rounding, so results are bit-identical:
//   static INT: fp32 x * inverse (rintf), + zero, clamp, (- zero) * scale, then the input dtype;
//   MXINT: each block's exponent from frexp of its largest magnitude (clamped at -127), the value
//     scaled by an exact power of two in float64, rounded half away from zero, clamped, scaled back
//     in float64 and converted to float, then to the input dtype (as ATen's casts do).
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

template <typename T>
__global__ void __launch_bounds__(kThreads)
static_int_kernel(const T* __restrict__ x, T* __restrict__ out, const float* __restrict__ inverse,
                  const float* __restrict__ scale, const float* __restrict__ zero, int64_t n, int64_t channels,
                  float levels) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % channels;
    const float shifted = __fadd_rn(rintf(__fmul_rn(to_float(x[i]), inverse[c])), zero[c]);
    const float code = isnan(shifted) ? shifted : fminf(fmaxf(shifted, 0.0f), levels);  // at::clamp keeps NaN
    out[i] = from_float<T>(__fmul_rn(__fsub_rn(code, zero[c]), scale[c]));
  }
}

// 2^k as a double, exactly, for k in the normal range.
__device__ __forceinline__ double power_of_two(int k) { return __longlong_as_double(int64_t(1023 + k) << 52); }

__device__ __forceinline__ double round_half_away(double v) {
  const double t = trunc(v);
  return fabs(v - t) == 0.5 ? t + copysign(1.0, v) : rint(v);
}

// One MX block of `count` values: its exponent from the block's absolute maximum, then each value.
template <typename T>
__device__ __forceinline__ float mx_value(float v, int exponent, int element_bits, double bound) {
  if (isnan(v)) return v;
  const double scaled = double(v) * power_of_two(element_bits - 2 - exponent);
  const double code = fmin(fmax(round_half_away(scaled), -bound), bound);
  return __double2float_rn(code * power_of_two(exponent - (element_bits - 2)));
}

// max that keeps NaN, as at::max does: a block holding NaN takes the exponent of a NaN maximum.
__device__ __forceinline__ float max_keeping_nan(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmaxf(a, b); }

__device__ __forceinline__ int mx_exponent(float absmax) {
  if (!(absmax > 0.0f)) return -127;
  int e = 0;
  frexpf(absmax, &e);
  return max(e - 1, -127);
}

// Where MX block `index` lies: rows of `length` values cut into blocks of `block`.
struct MxBlock {
  int64_t offset;  // of its first value
  int64_t count;   // values in it (the row's last block may be shorter)
};
__device__ __forceinline__ MxBlock mx_block_at(int64_t index, int64_t length, int64_t block) {
  const int64_t blocks_per_row = (length + block - 1) / block;
  const int64_t first = (index % blocks_per_row) * block;
  return {(index / blocks_per_row) * length + first, min(block, length - first)};
}

// Writes the block's values from `start` in steps of `stride` (a lane's share, or all of them).
template <typename T>
__device__ __forceinline__ void write_mx_block(const T* __restrict__ in, T* __restrict__ o, int64_t count, int start,
                                               int stride, float absmax, int element_bits) {
  const int exponent = mx_exponent(absmax);
  const double bound = double((1 << (element_bits - 1)) - 1);
  for (int64_t j = start; j < count; j += stride) o[j] = from_float<T>(mx_value<T>(to_float(in[j]), exponent, element_bits, bound));
}

// A warp per block of `block` values (block a multiple of 32): coalesced loads, shuffle maximum.
template <typename T>
__global__ void __launch_bounds__(kThreads)
mx_warp_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t blocks, int64_t length, int64_t block,
               int element_bits) {
  const int64_t warp = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= blocks) return;
  const MxBlock b = mx_block_at(warp, length, block);
  float absmax = 0.0f;
  for (int64_t j = lane; j < b.count; j += 32) absmax = max_keeping_nan(absmax, fabsf(to_float(x[b.offset + j])));
  for (int offset = 16; offset > 0; offset /= 2) {
    absmax = max_keeping_nan(absmax, __shfl_xor_sync(0xffffffff, absmax, offset));
  }
  write_mx_block(x + b.offset, out + b.offset, b.count, lane, 32, absmax, element_bits);
}

// A thread per block (blocks narrower than a warp, e.g. seed 004's 16).
template <typename T>
__global__ void __launch_bounds__(kThreads)
mx_thread_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t blocks, int64_t length, int64_t block,
                 int element_bits) {
  const int64_t index = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (index >= blocks) return;
  const MxBlock b = mx_block_at(index, length, block);
  float absmax = 0.0f;
  for (int64_t j = 0; j < b.count; ++j) absmax = max_keeping_nan(absmax, fabsf(to_float(x[b.offset + j])));
  write_mx_block(x + b.offset, out + b.offset, b.count, 0, 1, absmax, element_bits);
}

int grid_for(int64_t threads) { return int(std::min<int64_t>((threads + kThreads - 1) / kThreads, int64_t(1) << 30)); }

}  // namespace

int launch_activation_static_int(Dtype dtype, const void* x, void* out, const float* inverse, const float* scale,
                                 const float* zero, int64_t n, int64_t channels, int bits, void* stream) {
  if (n == 0) return 0;
  if (channels < 1 || bits < 1 || bits > 16) return int(cudaErrorInvalidValue);
  const float levels = float((1 << bits) - 1);
  const int grid = int(std::min<int64_t>((n + kThreads - 1) / kThreads, 65536));
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    static_int_kernel<T><<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(x), static_cast<T*>(out), inverse, scale, zero, n, channels, levels);
    return int(cudaGetLastError());
  });
}

int launch_activation_mx(Dtype dtype, const void* x, void* out, int64_t rows, int64_t length, int64_t block,
                         int element_bits, void* stream) {
  if (rows * length == 0) return 0;
  if (block < 1 || element_bits < 2 || element_bits > 8) return int(cudaErrorInvalidValue);
  const int64_t blocks = rows * ((length + block - 1) / block);
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    if (block % 32 == 0) {
      mx_warp_kernel<T><<<grid_for(blocks * 32), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<T*>(out), blocks, length, block, element_bits);
    } else {
      mx_thread_kernel<T><<<grid_for(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<T*>(out), blocks, length, block, element_bits);
    }
    return int(cudaGetLastError());
  });
}

}  // namespace matquant::kernels
