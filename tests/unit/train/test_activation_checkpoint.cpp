// Activation checkpointing recomputes blocks in backward and must give the same gradients.
#include "common/device_memory.h"
#include "model/config.h"
#include "model/initialization.h"
#include "model/pretrained.h"
#include "test_device.h"
#include "train/activation_checkpoint.h"
#include "train/qat_trainer.h"

#include <fstream>
#include <gtest/gtest.h>

using namespace matquant;
using matquant::testing::test_device;

namespace {

// The recomputed forward runs the same kernels on the same inputs; only the summation order of
// accumulated parameter gradients may differ (reentrant backward accumulates per block).
constexpr double kGradientTolerance = 1e-5;
// Under CUDA bf16 autocast both runs round to bf16 (8 bits of mantissa) at every matmul; the
// recomputation must reproduce the autocast state, else the gap would be fp32-vs-bf16 (~1e-2 of
// the largest gradient or more). Compared relative to each tensor's largest |gradient|.
constexpr double kBf16RelativeTolerance = 2e-2;

std::map<std::string, at::Tensor> one_matquant_step_gradients(bool checkpointing, const at::Tensor& data,
                                                              bool bf16_autocast = false) {
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
  c.bf16_autocast = bf16_autocast;  // CUDA only; the exact comparison runs in fp32
  // Eager steps, so that the host-side recomputation count is one per block and precision (a
  // captured step runs its passes on the host twice, warm-up and capture; test_captured_objective).
  c.cuda_graph = false;
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

TEST(ActivationCheckpoint, Bf16AutocastIsReplayedInTheRecomputation) {
  if (!test_device().is_cuda()) GTEST_SKIP() << "bf16 autocast is used on CUDA only";
  at::manual_seed(0);
  const at::Tensor start = at::randint(3, 200, {8, 1}, at::kLong);
  const at::Tensor data = (start + at::arange(13, at::kLong).view({1, -1})).remainder(253) + 3;
  const auto plain = one_matquant_step_gradients(false, data, true);
  const int64_t before = train::activation_checkpoint_recomputations();
  const auto checkpointed = one_matquant_step_gradients(true, data, true);
  EXPECT_EQ(train::activation_checkpoint_recomputations() - before, 9);
  ASSERT_EQ(plain.size(), checkpointed.size());
  for (const auto& [name, g] : plain) {
    const double largest = g.abs().max().item<double>();
    const double difference = (checkpointed.at(name) - g).abs().max().item<double>();
    std::printf("%s: max |g| %.3g, max difference %.3g\n", name.c_str(), largest, difference);
    EXPECT_LE(difference, kBf16RelativeTolerance * largest) << name;
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

// A measurement, not a test (disabled; run with --gtest_also_run_disabled_tests on a GPU): peak
// device memory and time of QAT steps with and without checkpointing on a random 8-layer,
// hidden-1024 Llama-shaped model, batch 8 x 512 tokens, 10 steps after a warm-up pass,
// MatQuant R = {8, 4, 2}. Asserts nothing.
TEST(ActivationCheckpoint, DISABLED_MeasurePeakMemoryOnCuda) {
  if (!test_device().is_cuda()) GTEST_SKIP() << "peak memory is measured on CUDA only";
  std::ifstream in(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama/config.json");
  nlohmann::json raw = nlohmann::json::parse(in);
  raw["hidden_size"] = 1024;
  raw["intermediate_size"] = 4096;
  raw["num_hidden_layers"] = 8;
  raw["num_attention_heads"] = 16;
  raw["num_key_value_heads"] = 4;
  raw["head_dim"] = 64;
  raw["max_position_embeddings"] = 1024;
  raw["vocab_size"] = 32000;
  const at::Tensor data = at::randint(3, 32000, {64, 513}, at::kLong);
  // The first pass warms up cuBLAS and the allocator and is not printed.
  for (int pass : {0, 1, 2}) {
    const bool checkpointing = pass == 2;
    model::DecoderModel m(model::parse_config(raw, "measurement config"));
    model::initialize_random(m, 0.02, 0);
    m->to(test_device());
    m->enable_quantization(model::QuantScope::kFfn, {});
    train::QatConfig c;
    c.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
    c.schedule.total_steps = pass == 0 ? 1 : 10;
    c.schedule.warmup_steps = 0;
    c.batch_size = 8;
    c.activation_checkpointing = checkpointing;
    reset_peak_device_memory(test_device());
    const auto summary = train::train_qat(m, data, c);
    if (pass == 0) continue;
    std::printf("activation checkpointing %s: peak %.2f GiB, %.3f s/step (10 steps)\n",
                checkpointing ? "on " : "off", peak_device_memory(test_device()) / double(1 << 30),
                summary.seconds / double(summary.steps));
  }
}
