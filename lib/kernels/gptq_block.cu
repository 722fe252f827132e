// GPTQ's inner loop over one lazy block (lib/quant/gptq.cpp), for the affine round-to-nearest grid:
// each thread owns one weight row and walks the block's columns in order, rounding column i,
// computing its error e = (w - q) / U_ii and subtracting e * U_ij from the row's later columns.
// Rows are independent given U, so a whole block is one launch instead of a dozen small kernels per
// column. The arithmetic mirrors the ATen path and llm-compressor's eager loop operation by
// operation (true division, round half to even, the update's product and difference rounded
// separately, no fused multiply-add), so the codes are the same as theirs.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

constexpr int kRowsPerBlock = 64;

__global__ void __launch_bounds__(kRowsPerBlock)
gptq_block_affine(float* __restrict__ w1, const float* __restrict__ u1, const float* __restrict__ scale,
                  const float* __restrict__ zero, float* __restrict__ q1, float* __restrict__ err1,
                  uint8_t* __restrict__ codes1, int64_t rows, int width, int64_t ld_u, float max_code) {
  extern __shared__ float tile[];  // [kRowsPerBlock][width + 1]: the padding spreads rows over banks
  const int stride = width + 1;
  const int64_t row0 = int64_t(blockIdx.x) * kRowsPerBlock;
  const int rows_here = int(rows - row0 < kRowsPerBlock ? rows - row0 : kRowsPerBlock);
  for (int idx = threadIdx.x; idx < rows_here * width; idx += kRowsPerBlock) {
    const int r = idx / width, c = idx % width;
    tile[r * stride + c] = w1[(row0 + r) * width + c];
  }
  __syncthreads();
  const int t = threadIdx.x;
  if (t < rows_here) {
    float* w = tile + t * stride;
    const int64_t row = row0 + t;
    for (int i = 0; i < width; ++i) {
      const float s = scale[row * width + i];
      const float z = zero[row * width + i];
      const float value = w[i];
      const float code = fminf(fmaxf(__fadd_rn(rintf(__fdiv_rn(value, s)), z), 0.0f), max_code);
      const float q = __fmul_rn(__fsub_rn(code, z), s);
      const float e = __fdiv_rn(__fsub_rn(value, q), u1[int64_t(i) * ld_u + i]);
      const float* u_row = u1 + int64_t(i) * ld_u;
      for (int j = i + 1; j < width; ++j) w[j] = __fsub_rn(w[j], __fmul_rn(e, u_row[j]));
      w[i] = q;
      err1[row * width + i] = e;
      codes1[row * width + i] = uint8_t(code);
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < rows_here * width; idx += kRowsPerBlock) {
    const int r = idx / width, c = idx % width;
    q1[(row0 + r) * width + c] = tile[r * stride + c];
  }
}

}  // namespace

int launch_gptq_block_affine(float* w1, const float* u1, int64_t ld_u, const float* scale, const float* zero,
                             float* q1, float* err1, uint8_t* codes1, int64_t rows, int width, int max_code,
                             void* stream) {
  if (rows == 0 || width == 0) return 0;
  const size_t shared = size_t(kRowsPerBlock) * size_t(width + 1) * sizeof(float);
  cudaError_t status = cudaFuncSetAttribute(gptq_block_affine, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared));
  if (status != cudaSuccess) return int(status);
  const unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  gptq_block_affine<<<blocks, kRowsPerBlock, shared, static_cast<cudaStream_t>(stream)>>>(
      w1, u1, scale, zero, q1, err1, codes1, rows, width, ld_u, float(max_code));
  return int(cudaGetLastError());
}

}  // namespace matquant::kernels
