// GPTQ's inner loop over one lazy block (lib/quant/gptq.cpp), for the affine round-to-nearest grid:
// each thread owns one weight row and walks the block's columns in order, rounding column i,
// computing its error e = (w - q) / U_ii and subtracting e * U_ij from the row's later columns.
// Rows are independent given U, so a whole block is one launch instead of a dozen small kernels per
// column. The arithmetic mirrors the ATen path and llm-compressor's eager loop operation by
// operation (true division, round half to even, the update's product and difference rounded
// separately, no fused multiply-add), so the codes are the same as theirs.
//
// Nested grids (MatQuant's objective over several sliced precisions) pick, per value, the c-bit
// code minimising sum_r lambda_r (w - dequant(S(q, r)))^2. The minimum lies between the lowest and
// the highest code of the buckets of each precision's nearest level (below that hull every term
// only grows as q falls, above it as q rises), and inside the hull the coarse terms are constant
// between bucket boundaries, where only the c-bit term varies; so the hull's ends, each boundary
// and the code before it, and the c-bit round-to-nearest code clamped into the hull are the only
// candidates: about 20 evaluations instead of 2^c. It is the full table's optimum; in float32 the
// two break near-ties (objectives equal to about 1e-8) differently, the table summing in CUDA's order.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

constexpr int kRowsPerBlock = 64;

// S(q, r) in c-bit units (quant/slicing.h): floor(q / 2^(c-r) + 1/2) * 2^(c-r), clamped to the top
// level unless extra precision.
__device__ __forceinline__ float slice_code(float code, int shift, const NestedGptqSpec& spec) {
  const float step = float(1 << shift);
  float level = floorf(__fadd_rn(__fdiv_rn(code, step), 0.5f));
  if (!spec.extra_precision) level = fminf(fmaxf(level, 0.0f), float((1 << (spec.source_bits - shift)) - 1));
  return __fmul_rn(level, step);
}

__device__ __forceinline__ float nested_loss(float value, float code, float s, float z, const NestedGptqSpec& spec) {
  float loss = 0.0f;
  for (int k = 0; k < spec.count; ++k) {
    const float q = __fmul_rn(__fsub_rn(slice_code(code, spec.source_bits - spec.bits[k], spec), z), s);
    const float d = __fsub_rn(value, q);
    loss = __fadd_rn(loss, __fmul_rn(__fmul_rn(d, d), spec.weights[k]));
  }
  return loss;
}

// The candidate search described at the top; returns the chosen code.
__device__ float nested_code(float value, float s, float z, const NestedGptqSpec& spec) {
  const int top = (1 << spec.source_bits) - 1;
  const float u = __fadd_rn(__fdiv_rn(value, s), z);  // the value's position in code units
  int lo = top, hi = 0;
  for (int k = 0; k < spec.count; ++k) {
    const int shift = spec.source_bits - spec.bits[k];
    const int step = 1 << shift, half = step / 2;
    const int max_level = spec.extra_precision ? (1 << spec.bits[k]) : (1 << spec.bits[k]) - 1;
    const int level = int(fminf(fmaxf(rintf(u / float(step)), 0.0f), float(max_level)));
    lo = min(lo, max(0, level * step - half));
    hi = max(hi, (level == max_level && !spec.extra_precision) ? top : min(top, level * step + step - half - 1));
  }
  float best_code = float(lo);
  float best = nested_loss(value, best_code, s, z, spec);
  auto consider = [&](int code) {
    if (code < lo || code > hi) return;
    const float c = float(code);
    const float loss = nested_loss(value, c, s, z, spec);
    if (loss < best || (loss == best && c < best_code)) {
      best = loss;
      best_code = c;
    }
  };
  consider(hi);
  consider(int(fminf(fmaxf(__fadd_rn(rintf(__fdiv_rn(value, s)), z), float(lo)), float(hi))));
  for (int k = 0; k < spec.count; ++k) {
    const int shift = spec.source_bits - spec.bits[k];
    if (shift == 0) continue;  // every code is a boundary of the c-bit term: handled by the clamp above
    const int step = 1 << shift, half = step / 2;
    for (int level = (lo + half) / step; level * step - half <= hi; ++level) {
      const int boundary = level * step - half;
      if (boundary > lo) {
        consider(boundary);
        consider(boundary - 1);
      }
    }
  }
  return best_code;
}

// Round to nearest on the c-bit grid: the code and its value.
struct AffineRounding {
  float max_code;
  __device__ float code(float value, float s, float z) const {
    return fminf(fmaxf(__fadd_rn(rintf(__fdiv_rn(value, s)), z), 0.0f), max_code);
  }
  __device__ float value(float code, float s, float z) const { return __fmul_rn(__fsub_rn(code, z), s); }
};

// The nested objective's code, and the lambda-weighted mean of its slices' values (what the error
// is measured against).
struct NestedRounding {
  NestedGptqSpec spec;
  __device__ float code(float value, float s, float z) const { return nested_code(value, s, z, spec); }
  __device__ float value(float code, float s, float z) const {
    float q = 0.0f;
    for (int k = 0; k < spec.count; ++k) {
      const float sliced = __fmul_rn(__fsub_rn(slice_code(code, spec.source_bits - spec.bits[k], spec), z), s);
      q = __fadd_rn(q, __fmul_rn(sliced, spec.weights[k]));
    }
    return q;
  }
};

template <typename Rounding>
__global__ void __launch_bounds__(kRowsPerBlock)
gptq_block(float* __restrict__ w1, const float* __restrict__ u1, const float* __restrict__ scale,
           const float* __restrict__ zero, float* __restrict__ q1, float* __restrict__ err1,
           uint8_t* __restrict__ codes1, int64_t rows, int width, int64_t ld_u, Rounding rounding) {
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
      const float code = rounding.code(value, s, z);
      const float q = rounding.value(code, s, z);
      const float* u_row = u1 + int64_t(i) * ld_u;
      const float e = __fdiv_rn(__fsub_rn(value, q), u_row[i]);
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

template <typename Rounding>
int launch(float* w1, const float* u1, int64_t ld_u, const float* scale, const float* zero, float* q1, float* err1,
           uint8_t* codes1, int64_t rows, int width, Rounding rounding, void* stream) {
  if (rows == 0 || width == 0) return 0;
  const size_t shared = size_t(kRowsPerBlock) * size_t(width + 1) * sizeof(float);
  const cudaError_t status =
      cudaFuncSetAttribute(gptq_block<Rounding>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared));
  if (status != cudaSuccess) return int(status);
  const unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  gptq_block<Rounding><<<blocks, kRowsPerBlock, shared, static_cast<cudaStream_t>(stream)>>>(
      w1, u1, scale, zero, q1, err1, codes1, rows, width, ld_u, rounding);
  return int(cudaGetLastError());
}

}  // namespace

int launch_gptq_block_nested(float* w1, const float* u1, int64_t ld_u, const float* scale, const float* zero,
                             float* q1, float* err1, uint8_t* codes1, int64_t rows, int width,
                             const NestedGptqSpec& spec, void* stream) {
  return launch(w1, u1, ld_u, scale, zero, q1, err1, codes1, rows, width, NestedRounding{spec}, stream);
}

int launch_gptq_block_affine(float* w1, const float* u1, int64_t ld_u, const float* scale, const float* zero,
                             float* q1, float* err1, uint8_t* codes1, int64_t rows, int width, int max_code,
                             void* stream) {
  return launch(w1, u1, ld_u, scale, zero, q1, err1, codes1, rows, width, AffineRounding{float(max_code)}, stream);
}

}  // namespace matquant::kernels
