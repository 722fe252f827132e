#pragma once
// AdamW over a list of fp32 CUDA tensors in one kernel launch, with the gradient clipping folded in
// (lib/kernels/adamw_update.cu): train/fused_optimizer_step's update on the GPU.
#include <ATen/core/Tensor.h>

#include <vector>

namespace matquant::kernels {

struct AdamWSettings {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, weight_decay = 0.0, eps = 1e-8;
};

// Whether adamw_update takes these: fused kernels compiled in, one entry per parameter in each list,
// every tensor fp32, dense (no gaps or overlaps) and on the parameters' one CUDA device, each entry's
// four of one size and one set of strides. MATQUANT_ADAMW_KERNEL=0 makes it refuse everything.
bool adamw_update_applies(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                          const std::vector<at::Tensor>& exp_avgs, const std::vector<at::Tensor>& exp_avg_sqs);

// One AdamW step per parameter (steps[i]: its step count after this update, from 1), updating params,
// exp_avgs and exp_avg_sqs in place. divisor (optional, a one-element fp32 tensor on the device):
// every gradient is read divided by it. The gradients are never written.
void adamw_update(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                  const std::vector<at::Tensor>& exp_avgs, const std::vector<at::Tensor>& exp_avg_sqs,
                  const std::vector<int64_t>& steps, const AdamWSettings& settings, const at::Tensor& divisor);

}  // namespace matquant::kernels
