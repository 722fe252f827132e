#include "train/fused_optimizer_step.h"

#include "kernels/adamw_ops.h"
#include "kernels/master_weight_ops.h"

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

// The divisor the fused kernel applies to every gradient so that their global 2-norm is at most
// max_norm: the inverse of clip_grad_norm_'s clamped coefficient, on the device (no host sync).
at::Tensor clip_divisor(const std::vector<at::Tensor>& grads, double max_norm) {
  const at::Tensor total = at::linalg_vector_norm(at::stack(at::_foreach_norm(grads, 2)), 2);
  return at::clamp_min((total + 1e-6) / max_norm, 1.0).to(at::kFloat);
}

}  // namespace

void adamw_step(torch::optim::AdamW& optimizer, bool offload_state, double max_norm) {
  bool fusable = true;
  std::vector<at::Tensor> with_grad, grads_of_all;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) {
        with_grad.push_back(p);
        grads_of_all.push_back(p.grad());
      }
    }
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    fusable = fusable && !options.amsgrad();
  }
  fusable = fusable && (with_grad.empty() || all_on_cuda(with_grad));
  if (!fusable) {
    if (max_norm > 0 && !with_grad.empty()) torch::nn::utils::clip_grad_norm_(with_grad, max_norm);
    optimizer.step();
    kernels::note_weights_changed();
    return;
  }
  const std::optional<at::Tensor> divisor =
      max_norm > 0 && !grads_of_all.empty() ? std::optional<at::Tensor>(clip_divisor(grads_of_all, max_norm))
                                            : std::nullopt;
  auto& states = optimizer.state();
  for (auto& group : optimizer.param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    std::vector<int64_t> steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& slot = states[p.unsafeGetTensorImpl()];
      if (!slot) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->step(0);
        // On the GPU with the parameter's strides: both fused kernels pair tensors of one layout.
        if (offload_state) {  // .to(device) keeps these strides
          const auto options = p.options().device(at::kCPU).pinned_memory(true);
          state->exp_avg(at::empty_strided(p.sizes(), p.strides(), options).zero_());
          state->exp_avg_sq(at::empty_strided(p.sizes(), p.strides(), options).zero_());
        } else {
          state->exp_avg(at::zeros_like(p));
          state->exp_avg_sq(at::zeros_like(p));
        }
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
      steps.push_back(state.step());
    }
    if (params.empty()) continue;
    const auto [beta1, beta2] = options.betas();
    const kernels::AdamWSettings settings{options.lr(), beta1, beta2, options.weight_decay(), options.eps()};
    const at::Tensor no_divisor;
    const at::Tensor& clip = divisor ? *divisor : no_divisor;
    // PyTorch's fused kernel for what ours does not take (other dtypes, strided tensors); it reads each
    // parameter's step count from the device, and stores the clipped gradients back.
    const auto torch_fused = [&](const std::vector<at::Tensor>& p, const std::vector<at::Tensor>& g,
                                 const std::vector<at::Tensor>& m, const std::vector<at::Tensor>& v,
                                 const std::vector<int64_t>& s) {
      std::vector<at::Tensor> step_tensors;
      for (int64_t step : s) step_tensors.push_back(at::full({}, float(step), p.front().options().dtype(at::kFloat)));
      at::_fused_adamw_(p, g, m, v, {}, step_tensors, options.lr(), beta1, beta2, options.weight_decay(),
                        options.eps(), /*amsgrad=*/false, /*maximize=*/false, divisor);
    };
    if (!offload_state) {
      // Each parameter to the one-launch kernel if it takes it, the rest to PyTorch's.
      std::vector<at::Tensor> lists[2][4];
      std::vector<int64_t> list_steps[2];
      for (size_t i = 0; i < params.size(); ++i) {
        const int ours = kernels::adamw_update_applies({params[i]}, {grads[i]}, {exp_avgs[i]}, {exp_avg_sqs[i]}) ? 1 : 0;
        lists[ours][0].push_back(params[i]);
        lists[ours][1].push_back(grads[i]);
        lists[ours][2].push_back(exp_avgs[i]);
        lists[ours][3].push_back(exp_avg_sqs[i]);
        list_steps[ours].push_back(steps[i]);
      }
      if (!lists[1][0].empty()) {
        kernels::adamw_update(lists[1][0], lists[1][1], lists[1][2], lists[1][3], list_steps[1], settings, clip);
      }
      if (!lists[0][0].empty()) torch_fused(lists[0][0], lists[0][1], lists[0][2], lists[0][3], list_steps[0]);
      continue;
    }
    // Stream-ordered: the copies back to pinned memory finish before the next step's copies in.
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor m = exp_avgs[i].to(params[i].device(), /*non_blocking=*/true);
      at::Tensor v = exp_avg_sqs[i].to(params[i].device(), /*non_blocking=*/true);
      if (kernels::adamw_update_applies({params[i]}, {grads[i]}, {m}, {v})) {
        kernels::adamw_update({params[i]}, {grads[i]}, {m}, {v}, {steps[i]}, settings, clip);
      } else {
        torch_fused({params[i]}, {grads[i]}, {m}, {v}, {steps[i]});
      }
      exp_avgs[i].copy_(m, /*non_blocking=*/true);
      exp_avg_sqs[i].copy_(v, /*non_blocking=*/true);
    }
  }
  kernels::note_weights_changed();  // at::_fused_adamw_ bumps no versions (kernels::WeightRangeScope)
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
