// The fused optimizer step (CUDA) against LibTorch's own clip_grad_norm_ and AdamW, step by step;
// on the CPU it is LibTorch's step itself, bit for bit.
#include "test_device.h"
#include "train/fused_optimizer_step.h"

#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>

namespace matquant::train {
namespace {

std::vector<at::Tensor> make_parameters(uint64_t seed) {
  at::manual_seed(seed);
  const auto options = at::TensorOptions(at::kFloat).device(matquant::testing::test_device());
  return {at::randn({64, 32}, options).requires_grad_(), at::randn({32}, options).requires_grad_(),
          at::randn({7, 5, 3}, options).requires_grad_()};
}

void set_gradients(std::vector<at::Tensor>& params, int step) {
  at::manual_seed(1000 + step);
  for (auto& p : params) p.mutable_grad() = at::randn_like(p) * (step + 1.0);
}

TEST(FusedOptimizerStep, MatchesLibTorchClipAndAdamW) {
  auto ours = make_parameters(0);
  auto theirs = make_parameters(0);
  torch::optim::AdamW ours_optimizer(ours, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  torch::optim::AdamW their_optimizer(theirs, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  for (int step = 0; step < 5; ++step) {
    set_gradients(ours, step);
    set_gradients(theirs, step);
    torch::nn::utils::clip_grad_norm_(theirs, 1.0);
    adamw_step(ours_optimizer, /*offload_state=*/false, /*max_norm=*/1.0);
    their_optimizer.step();
    for (size_t i = 0; i < ours.size(); ++i) {
      if (ours[i].is_cuda()) {
        EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-5, 1e-6)) << "step " << step << " parameter " << i;
        // The gradients are left clipped, as clip_grad_norm_ leaves them (the kernel writes them back).
        EXPECT_TRUE(at::allclose(ours[i].grad(), theirs[i].grad(), 1e-5, 1e-7)) << "step " << step;
      } else {
        EXPECT_TRUE(at::equal(ours[i], theirs[i])) << "step " << step << " parameter " << i;
      }
    }
  }
  // The state is the optimizer's own: a saved and reloaded state continues the same way.
  const auto& state = static_cast<const torch::optim::AdamWParamState&>(
      *ours_optimizer.state().at(ours[0].unsafeGetTensorImpl()));
  EXPECT_EQ(state.step(), 5);
}

// Gradients with a norm well above 1 come out scaled by 1 / (norm + 1e-6); those scaled by 1e-3, with a
// norm well below 1, come out as they went in. A clip applied twice or not at all fails.
TEST(FusedOptimizerStep, ClipsOnlyAboveTheLimit) {
  for (const double scale : {1.0, 1e-3}) {
    auto clipped = make_parameters(0);
    auto unclipped = make_parameters(0);
    torch::optim::AdamW clipped_optimizer(clipped, torch::optim::AdamWOptions(1e-2));
    torch::optim::AdamW unclipped_optimizer(unclipped, torch::optim::AdamWOptions(1e-2));
    set_gradients(clipped, 0);
    set_gradients(unclipped, 0);
    for (auto& p : clipped) p.mutable_grad().mul_(scale);
    for (auto& p : unclipped) p.mutable_grad().mul_(scale);
    std::vector<at::Tensor> grads;
    for (auto& p : clipped) grads.push_back(p.grad().clone());
    const double norm = at::linalg_vector_norm(at::cat({grads[0].flatten(), grads[1].flatten(), grads[2].flatten()}), 2)
                            .item<double>();
    adamw_step(clipped_optimizer, false, 1.0);
    adamw_step(unclipped_optimizer, false, 0.0);
    const double expected_coefficient = std::min(1.0, 1.0 / (norm + 1e-6));
    for (size_t i = 0; i < clipped.size(); ++i) {
      EXPECT_TRUE(at::allclose(clipped[i].grad(), grads[i] * expected_coefficient, 1e-5, 1e-8)) << scale;
    }
    EXPECT_EQ(scale == 1.0, !at::allclose(clipped[0].grad(), unclipped[0].grad())) << scale;
  }
}

}  // namespace
}  // namespace matquant::train
