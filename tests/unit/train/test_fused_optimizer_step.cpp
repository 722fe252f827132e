// The fused optimizer step (CUDA) against LibTorch's own clip_grad_norm_ and AdamW, step by step;
// on the CPU it is LibTorch's step itself, bit for bit.
#include "test_device.h"
#include "kernels/adamw_ops.h"
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

// One step on both sides from the same gradients: ours clipped inside adamw_step, LibTorch's with
// clip_grad_norm_ then its own AdamW step.
void step_both(std::vector<at::Tensor>& ours, torch::optim::AdamW& our_optimizer, std::vector<at::Tensor>& theirs,
               torch::optim::AdamW& their_optimizer, int step, double max_norm) {
  set_gradients(ours, step);
  set_gradients(theirs, step);
  torch::nn::utils::clip_grad_norm_(theirs, max_norm);
  adamw_step(our_optimizer, /*offload_state=*/false, max_norm);
  their_optimizer.step();
}

TEST(FusedOptimizerStep, MatchesLibTorchClipAndAdamW) {
  auto ours = make_parameters(0);
  auto theirs = make_parameters(0);
  torch::optim::AdamW ours_optimizer(ours, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  torch::optim::AdamW their_optimizer(theirs, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  for (int step = 0; step < 5; ++step) {
    step_both(ours, ours_optimizer, theirs, their_optimizer, step, 1.0);
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

// Gradients with a norm well above 1 are clipped to 1, those scaled by 1e-3 (norm well below 1) are not:
// each side against LibTorch's clip_grad_norm_ (or none) and AdamW. A large eps makes the update
// depend on the gradient's scale (Adam's step is otherwise nearly scale-free), so a clip applied
// twice, or not at all, fails. On CUDA the gradients themselves are left as they were.
TEST(FusedOptimizerStep, ClipsOnlyAboveTheLimit) {
  for (const double scale : {1.0, 1e-3}) {
    auto ours = make_parameters(0);
    auto theirs = make_parameters(0);
    const auto options = torch::optim::AdamWOptions(1e-2).eps(1.0).weight_decay(0.01);
    torch::optim::AdamW our_optimizer(ours, options);
    torch::optim::AdamW their_optimizer(theirs, options);
    for (int step = 0; step < 3; ++step) {
      set_gradients(ours, step);
      set_gradients(theirs, step);
      for (auto& p : ours) p.mutable_grad().mul_(scale);
      for (auto& p : theirs) p.mutable_grad().mul_(scale);
      std::vector<at::Tensor> before;
      for (auto& p : ours) before.push_back(p.grad().clone());
      const double norm = torch::nn::utils::clip_grad_norm_(theirs, 1.0);
      EXPECT_EQ(scale == 1.0, norm > 1.0) << "the case's premise";
      adamw_step(our_optimizer, /*offload_state=*/false, /*max_norm=*/1.0);
      their_optimizer.step();
      for (size_t i = 0; i < ours.size(); ++i) {
        EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-5, 1e-6)) << "scale " << scale << " step " << step;
        // Only the one-launch kernel leaves them (switched off: MATQUANT_ADAMW_KERNEL=0).
        const at::Tensor& p = ours[i];
        if (p.is_cuda() && kernels::adamw_update_applies({p}, {p.grad()}, {at::zeros_like(p)}, {at::zeros_like(p)})) {
          EXPECT_TRUE(at::equal(p.grad(), before[i])) << "gradients not written";
        }
      }
    }
  }
}

// A strided parameter (a transposed leaf): its moments are made with its strides, and the update
// pairs the four tensors element by element (on the GPU, one launch over their memory in order).
TEST(FusedOptimizerStep, StridedParametersFollowLibTorch) {
  at::manual_seed(3);
  const auto options = at::TensorOptions(at::kFloat).device(matquant::testing::test_device());
  const at::Tensor base = at::randn({32, 64}, options);
  std::vector<at::Tensor> ours{base.clone().t().requires_grad_()}, theirs{base.clone().t().requires_grad_()};
  ASSERT_FALSE(ours[0].is_contiguous());
  torch::optim::AdamW our_optimizer(ours, torch::optim::AdamWOptions(1e-2));
  torch::optim::AdamW their_optimizer(theirs, torch::optim::AdamWOptions(1e-2));
  for (int step = 0; step < 3; ++step) {
    step_both(ours, our_optimizer, theirs, their_optimizer, step, 1.0);
    EXPECT_TRUE(at::allclose(ours[0], theirs[0], 1e-5, 1e-6)) << "step " << step;
  }
}

// Many tensors of every kind in one group: one spread over several of the kernel's blocks (16,384
// elements each) with a partial last block, an empty one, sizes that are no multiple of 4 (the
// element-wise path), size-1 dimensions and a scalar. Against LibTorch's clip_grad_norm_ and AdamW.
TEST(FusedOptimizerStep, ManyTensorsOfEveryShapeFollowLibTorch) {
  at::manual_seed(5);
  const auto options = at::TensorOptions(at::kFloat).device(matquant::testing::test_device());
  const std::vector<std::vector<int64_t>> shapes{{200, 300}, {0}, {7, 5, 3}, {1, 4096}, {4096, 1}, {}, {37}, {64, 32}};
  std::vector<at::Tensor> ours, theirs;
  for (const auto& shape : shapes) {
    const at::Tensor base = at::randn(shape, options);
    ours.push_back(base.clone().requires_grad_());
    theirs.push_back(base.clone().requires_grad_());
  }
  const auto adam = torch::optim::AdamWOptions(1e-2).weight_decay(0.05);
  torch::optim::AdamW our_optimizer(ours, adam), their_optimizer(theirs, adam);
  for (int step = 0; step < 4; ++step) {
    step_both(ours, our_optimizer, theirs, their_optimizer, step, 2.0);
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-5, 1e-6)) << "step " << step << " tensor " << i;
    }
  }
}

}  // namespace
}  // namespace matquant::train
