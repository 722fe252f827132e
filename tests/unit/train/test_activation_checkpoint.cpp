// Activation checkpointing recomputes blocks in backward and must give the same gradients.
#include "model/pretrained.h"
#include "test_device.h"
#include "train/activation_checkpoint.h"
#include "train/qat_trainer.h"

#include <gtest/gtest.h>

using namespace matquant;
using matquant::testing::test_device;

namespace {

// The recomputed forward runs the same kernels on the same inputs; only the summation order of
// accumulated parameter gradients may differ (reentrant backward accumulates per block).
constexpr double kGradientTolerance = 1e-5;

std::map<std::string, at::Tensor> one_matquant_step_gradients(bool checkpointing, const at::Tensor& data) {
  auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, test_device()});
  m->enable_quantization(model::QuantScope::kFfnAndAttention, {});
  train::QatConfig c;
  c.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  c.schedule.peak = 1e-3;
  c.schedule.warmup_steps = 0;
  c.schedule.total_steps = 1;
  c.batch_size = 4;
  c.gradient_clip = 0;  // the raw accumulated gradients are compared
  c.activation_checkpointing = checkpointing;
  train::train_qat(m, data, c);
  std::map<std::string, at::Tensor> grads;
  for (auto& item : m->named_parameters()) {
    const at::Tensor& p = item.value();
    if (p.grad().defined()) grads[item.key()] = p.grad().detach().to(at::kCPU).clone();
  }
  return grads;
}

}  // namespace

TEST(ActivationCheckpoint, GradientsOfOneMatQuantStepAreUnchanged) {
  at::manual_seed(0);
  const at::Tensor start = at::randint(3, 200, {8, 1}, at::kLong);
  const at::Tensor data = (start + at::arange(13, at::kLong).view({1, -1})).remainder(253) + 3;
  const auto plain = one_matquant_step_gradients(false, data);
  const int64_t before = train::activation_checkpoint_recomputations();
  const auto checkpointed = one_matquant_step_gradients(true, data);
  // 3 blocks recomputed once per trained precision (8, 4, 2): checkpointing really ran.
  EXPECT_EQ(train::activation_checkpoint_recomputations() - before, 9);
  ASSERT_EQ(plain.size(), checkpointed.size());
  ASSERT_GT(plain.size(), 10u);
  for (const auto& [name, g] : plain) {
    const at::Tensor& other = checkpointed.at(name);
    EXPECT_GT(g.abs().max().item<double>(), 0.0) << name;
    EXPECT_TRUE(at::allclose(other, g, kGradientTolerance, kGradientTolerance))
        << name << ": max difference " << (other - g).abs().max().item<double>();
  }
}

TEST(ActivationCheckpoint, NoGraphMeansAPlainForward) {
  auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, test_device()});
  const at::Tensor ids = at::randint(3, 200, {2, 6}, at::kLong);
  const at::Tensor reference = m->forward(ids).detach();
  train::set_activation_checkpointing(m, true);
  const int64_t before = train::activation_checkpoint_recomputations();
  at::Tensor out;
  {
    at::NoGradGuard no_grad;
    out = m->forward(ids);
  }
  EXPECT_TRUE(at::equal(out, reference));
  const at::Tensor with_graph = m->forward(ids);  // checkpointed: same values, no recomputation yet
  EXPECT_TRUE(at::equal(with_graph.detach(), reference));
  EXPECT_EQ(train::activation_checkpoint_recomputations(), before);
}
