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
    clip_gradients(ours, 1.0);
    torch::nn::utils::clip_grad_norm_(theirs, 1.0);
    adamw_step(ours_optimizer);
    their_optimizer.step();
    for (size_t i = 0; i < ours.size(); ++i) {
      if (ours[i].is_cuda()) {
        EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-5, 1e-6)) << "step " << step << " parameter " << i;
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

}  // namespace
}  // namespace matquant::train
