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

void adamw_step(torch::optim::AdamW& optimizer, bool offload_state) {
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
        const auto options = offload_state ? p.options().device(at::kCPU).pinned_memory(true) : p.options();
        state->exp_avg(at::zeros(p.sizes(), options));
        state->exp_avg_sq(at::zeros(p.sizes(), options));
        slot = std::move(state);
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*slot);
      if (offload_state && state.exp_avg().is_cuda()) {  // loaded from a saved state onto the GPU
        state.exp_avg(state.exp_avg().to(at::kCPU).pin_memory());
        state.exp_avg_sq(state.exp_avg_sq().to(at::kCPU).pin_memory());
      }
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
    if (!offload_state) {
      at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, {}, step_tensors, options.lr(), beta1, beta2,
                        options.weight_decay(), options.eps(), /*amsgrad=*/false, /*maximize=*/false);
      continue;
    }
    // Stream-ordered: the copies back to pinned memory finish before the next step's copies in.
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor m = exp_avgs[i].to(params[i].device(), /*non_blocking=*/true);
      at::Tensor v = exp_avg_sqs[i].to(params[i].device(), /*non_blocking=*/true);
      at::_fused_adamw_({params[i]}, {grads[i]}, {m}, {v}, {}, {step_tensors[i]}, options.lr(), beta1, beta2,
                        options.weight_decay(), options.eps(), /*amsgrad=*/false, /*maximize=*/false);
      exp_avgs[i].copy_(m, /*non_blocking=*/true);
      exp_avg_sqs[i].copy_(v, /*non_blocking=*/true);
    }
  }
}

int64_t offloaded_state_bytes(torch::optim::AdamW& optimizer) {
  int64_t bytes = 0;
  for (auto& [key, slot] : optimizer.state()) {
    const auto& state = static_cast<const torch::optim::AdamWParamState&>(*slot);
    for (const auto& t : {state.exp_avg(), state.exp_avg_sq()}) {
      if (t.defined() && t.is_cpu()) bytes += t.numel() * int64_t(t.element_size());
    }
  }
  return bytes;
}

}  // namespace matquant::train
