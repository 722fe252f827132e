// AdamW over every parameter in one launch, with gradient clipping folded in: each gradient is
// divided by the clip divisor as it is read, and never written. PyTorch's fused AdamW
// (at::_fused_adamw_) takes the divisor as its AMP grad_scale but then also stores every unscaled
// gradient back: 4 of its 32 bytes per parameter, 24.6 ms per Gemma-2 2B QAT step on the H200 against
// 20.9 ms without a divisor (docs/performance.md). The update is AdamW as torch.optim.AdamW defines
// it (decoupled decay, bias-corrected moments, eps outside the square root), in fp32.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

constexpr int64_t kChunk = 16384;  // elements per block: 16 float4 per thread

__device__ __forceinline__ void adamw_element(float& p, float g, float& m, float& v, float lr, float beta1, float beta2,
                                              float weight_decay, float eps, float step_size,
                                              float bias_correction2_sqrt) {
  if (weight_decay != 0.0f) p -= lr * weight_decay * p;
  m = fmaf(beta1, m, fmaf(-beta1, g, g));  // beta1 m + (1 - beta1) g, without forming 1 - beta1
  v = fmaf(beta2, v, fmaf(-beta2, g * g, g * g));
  const float denom = sqrtf(v) / bias_correction2_sqrt + eps;
  p -= step_size * m / denom;
}

__global__ void __launch_bounds__(kThreads)
adamw_update(const AdamWEntry* __restrict__ table, int tensors, float lr, float beta1, float beta2, float weight_decay,
             float eps, const float* __restrict__ divisor) {
  // The block's tensor: the last entry whose first block is at or before this one.
  int lo = 0, hi = tensors - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table[mid].first_block <= int64_t(blockIdx.x)) lo = mid; else hi = mid - 1;
  }
  const AdamWEntry e = table[lo];
  const int64_t start = (int64_t(blockIdx.x) - e.first_block) * kChunk;
  const int64_t end = min(start + kChunk, e.numel);
  const float d = divisor ? *divisor : 1.0f;
  const float step_size = lr / e.bias_correction1;
  const bool vectorized = e.numel % 4 == 0 && aligned16(e.param) && aligned16(e.grad) && aligned16(e.exp_avg) &&
                          aligned16(e.exp_avg_sq);
  if (vectorized) {
    for (int64_t i = start / 4 + threadIdx.x; i < end / 4; i += kThreads) {
      float4 p = reinterpret_cast<const float4*>(e.param)[i];
      float4 g = reinterpret_cast<const float4*>(e.grad)[i];
      float4 m = reinterpret_cast<const float4*>(e.exp_avg)[i];
      float4 v = reinterpret_cast<const float4*>(e.exp_avg_sq)[i];
      if (divisor) g = make_float4(g.x / d, g.y / d, g.z / d, g.w / d);
      adamw_element(p.x, g.x, m.x, v.x, lr, beta1, beta2, weight_decay, eps, step_size, e.bias_correction2_sqrt);
      adamw_element(p.y, g.y, m.y, v.y, lr, beta1, beta2, weight_decay, eps, step_size, e.bias_correction2_sqrt);
      adamw_element(p.z, g.z, m.z, v.z, lr, beta1, beta2, weight_decay, eps, step_size, e.bias_correction2_sqrt);
      adamw_element(p.w, g.w, m.w, v.w, lr, beta1, beta2, weight_decay, eps, step_size, e.bias_correction2_sqrt);
      reinterpret_cast<float4*>(e.param)[i] = p;
      reinterpret_cast<float4*>(e.exp_avg)[i] = m;
      reinterpret_cast<float4*>(e.exp_avg_sq)[i] = v;
    }
    return;
  }
  for (int64_t i = start + threadIdx.x; i < end; i += kThreads) {
    float p = e.param[i], m = e.exp_avg[i], v = e.exp_avg_sq[i];
    const float g = divisor ? e.grad[i] / d : e.grad[i];
    adamw_element(p, g, m, v, lr, beta1, beta2, weight_decay, eps, step_size, e.bias_correction2_sqrt);
    e.param[i] = p;
    e.exp_avg[i] = m;
    e.exp_avg_sq[i] = v;
  }
}

}  // namespace

int64_t adamw_update_blocks(int64_t numel) { return (numel + kChunk - 1) / kChunk; }

int launch_adamw_update(const AdamWEntry* table, int tensors, int64_t blocks, float lr, float beta1, float beta2,
                        float weight_decay, float eps, const float* divisor, void* stream) {
  if (tensors <= 0 || blocks <= 0) return 0;
  if (blocks >= (int64_t(1) << 31)) return int(cudaErrorInvalidValue);
  adamw_update<<<unsigned(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      table, tensors, lr, beta1, beta2, weight_decay, eps, divisor);
  return int(cudaGetLastError());
}

}  // namespace matquant::kernels
