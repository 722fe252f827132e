#include "train/fused_optimizer_step.h"

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>

namespace matquant::train {

namespace {

bool all_on_cuda(const std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return false;
  for (const auto& t : tensors) {
    if (!t.is_cuda()) return false;
  }
  return true;
}

}  // namespace

void clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm) {
  if (max_norm <= 0) return;
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (!all_on_cuda(grads)) {
    torch::nn::utils::clip_grad_norm_(parameters, max_norm);
    return;
  }
  // As clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied only when below 1.
  const at::Tensor total = at::linalg_vector_norm(at::stack(at::_foreach_norm(grads, 2)), 2);
  const at::Tensor coefficient = at::clamp_max(max_norm / (total + 1e-6), 1.0);
  at::_foreach_mul_(grads, coefficient);
}

void adamw_step(torch::optim::AdamW& optimizer) {
  bool fusable = true;
  for (auto& group : optimizer.param_groups()) {
    std::vector<at::Tensor> with_grad;
    for (auto& p : group.params()) {
      if (p.grad().defined()) with_grad.push_back(p);
    }
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    fusable = fusable && !options.amsgrad() && (with_grad.empty() || all_on_cuda(with_grad));
  }
  if (!fusable) {
    optimizer.step();
    return;
  }
  auto& states = optimizer.state();
  for (auto& group : optimizer.param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    std::vector<float> steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& slot = states[p.unsafeGetTensorImpl()];
      if (!slot) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->step(0);
        state->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        state->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        slot = std::move(state);
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*slot);
      state.step(state.step() + 1);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(state.exp_avg());
      exp_avg_sqs.push_back(state.exp_avg_sq());
      steps.push_back(float(state.step()));
    }
    if (params.empty()) continue;
    // The kernel reads each parameter's step count from the device: one copy for the group.
    const auto step_tensors = at::tensor(steps).to(params.front().device()).unbind(0);
    const auto [beta1, beta2] = options.betas();
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, {}, step_tensors, options.lr(), beta1, beta2,
                      options.weight_decay(), options.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
}

}  // namespace matquant::train
