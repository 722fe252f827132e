// Activation checkpointing recomputes blocks in backward and must give the same gradients.
#include "common/device_memory.h"
#include "common/error.h"
#include "kernels/fused_ops.h"
#include "kernels/projection_stash.h"
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

// One MatQuant step (R = {8, 4, 2}) with no warm-up and no gradient clipping: the raw accumulated
// gradients are compared.
train::QatConfig one_step_config(bool checkpointing, int64_t batch) {
  train::QatConfig c;
  c.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  c.schedule.peak = 1e-3;
  c.schedule.warmup_steps = 0;
  c.schedule.total_steps = 1;
  c.batch_size = batch;
  c.gradient_clip = 0;
  c.activation_checkpointing = checkpointing;
  // Eager steps by default, so that the host-side recomputation count is one per block and precision
  // (a captured step runs its passes on the host twice, warm-up and capture; test_captured_objective).
  c.cuda_graph = false;
  return c;
}

// Trains `m` as `c` says and returns each parameter's gradient of the last step, read at the step's
// end: a captured run's gradients live in the graph's buffers, dropped when training ends.
std::map<std::string, at::Tensor> step_gradients(model::DecoderModel& m, const at::Tensor& data, train::QatConfig c) {
  std::map<std::string, at::Tensor> grads;
  c.on_step = [&](const train::StepReport&) {
    for (auto& item : m->named_parameters()) {
      const at::Tensor& p = item.value();
      if (p.grad().defined()) grads[item.key()] = p.grad().detach().to(at::kCPU).clone();
    }
  };
  train::train_qat(m, data, c);
  return grads;
}

// A randomly initialised model of a fixture family with some config fields changed, FFN quantized.
model::DecoderModel random_model(const std::string& family, const nlohmann::json& changes) {
  std::ifstream in(std::string(MATQUANT_FIXTURES_DIR) + "/models/" + family + "/config.json");
  nlohmann::json raw = nlohmann::json::parse(in);
  raw.update(changes);
  model::DecoderModel m(model::parse_config(raw, "test config"));
  model::initialize_random(m, 0.02, 0);
  m->to(test_device());
  m->enable_quantization(model::QuantScope::kFfn, {});
  return m;
}

std::map<std::string, at::Tensor> one_matquant_step_gradients(bool checkpointing, const at::Tensor& data,
                                                              bool bf16_autocast = false, bool selective = false,
                                                              bool cuda_graph = false,
                                                              model::QuantScope scope = model::QuantScope::kFfnAndAttention) {
  auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, test_device()});
  m->enable_quantization(scope, {});
  train::QatConfig c = one_step_config(checkpointing, 4);
  c.selective_checkpointing = selective;
  c.bf16_autocast = bf16_autocast;  // CUDA only; the exact comparison runs in fp32
  c.cuda_graph = cuda_graph;
  return step_gradients(m, data, c);
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

// Selective checkpointing takes back the first pass's projection outputs (and quantized bf16
// weights) instead of recomputing them: the same kernels on the same inputs, so the same gradients,
// bit for bit. On CUDA (bf16 autocast over fp32 master weights) every projection of the
// recomputation must come from the stash, quantized or not; elsewhere there is nothing to stash and
// the two policies run the same code.
TEST(ActivationCheckpoint, SelectiveCheckpointingGivesTheFullRecomputationsGradients) {
  at::manual_seed(0);
  const at::Tensor start = at::randint(3, 200, {8, 1}, at::kLong);
  const at::Tensor data = (start + at::arange(13, at::kLong).view({1, -1})).remainder(253) + 3;
  const bool cuda = test_device().is_cuda();
  for (const auto scope : {model::QuantScope::kFfnAndAttention, model::QuantScope::kFfn}) {
    SCOPED_TRACE(scope == model::QuantScope::kFfn ? "scope ffn" : "scope ffn+attn");
    const auto full = one_matquant_step_gradients(true, data, cuda, false, false, scope);
    const int64_t recomputed = train::activation_checkpoint_recomputations();
    const int64_t hits = kernels::projection_stash_hits();
    const auto selective = one_matquant_step_gradients(true, data, cuda, /*selective=*/true, false, scope);
    EXPECT_EQ(train::activation_checkpoint_recomputations() - recomputed, 9);
    // 3 blocks x 3 precisions x 7 projections.
    EXPECT_EQ(kernels::projection_stash_hits() - hits, cuda ? 63 : 0);
    ASSERT_EQ(full.size(), selective.size());
    for (const auto& [name, g] : full) {
      EXPECT_TRUE(at::equal(selective.at(name), g))
          << name << ": max difference " << (selective.at(name) - g).abs().max().item<double>();
    }
    if (!cuda) continue;
    // Replayed from a CUDA graph, the stash is used while the graph is captured and the replays run
    // the captured kernels: still the same gradients.
    const auto captured = one_matquant_step_gradients(true, data, true, /*selective=*/true, /*cuda_graph=*/true, scope);
    ASSERT_EQ(captured.size(), full.size());
    for (const auto& [name, g] : full) {
      EXPECT_TRUE(at::equal(captured.at(name), g))
          << name << " (captured): max difference " << (captured.at(name) - g).abs().max().item<double>();
    }
  }
}

// A Gemma-2-like model whose attention the one-kernel softcapped attention takes (head_dim 64, 96
// tokens): checkpointing's first pass records no graph, so it runs that kernel on q and k cast to
// bf16 (under autocast the fp32 rotary tables leave them in fp32); the recomputation runs the
// matmuls and the softmax kernel. The gradients stay within bf16 rounding of the uncheckpointed
// step's and differ from those of a first pass without the kernel (so the kernel did run).
TEST(ActivationCheckpoint, ASoftcappedFirstPassTakesTheAttentionKernel) {
  if (!test_device().is_cuda()) GTEST_SKIP() << "the attention kernel runs on CUDA";
  const nlohmann::json changes = {{"head_dim", 64}, {"max_position_embeddings", 128}, {"sliding_window", 32}};
  const at::Tensor data = at::randint(3, 250, {4, 97}, at::kLong);
  const auto gradients = [&](bool checkpointing) {
    auto m = random_model("gemma2", changes);
    return step_gradients(m, data, one_step_config(checkpointing, 4));
  };
  const auto plain = gradients(false);
  const auto with_kernel = gradients(true);
  const bool previous = kernels::set_softcapped_attention_kernel(false);
  const auto without_kernel = gradients(true);
  kernels::set_softcapped_attention_kernel(previous);
  ASSERT_EQ(plain.size(), with_kernel.size());
  bool any_difference = false;
  for (const auto& [name, g] : plain) {
    const double largest = g.abs().max().item<double>();
    EXPECT_LE((with_kernel.at(name) - g).abs().max().item<double>(), kBf16RelativeTolerance * largest) << name;
    any_difference = any_difference || !at::equal(with_kernel.at(name), without_kernel.at(name));
  }
  EXPECT_TRUE(any_difference) << "the first pass did not take the attention kernel";
}

TEST(ActivationCheckpoint, SelectiveCheckpointingNeedsCheckpointingOn) {
  auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama", {at::kFloat, test_device()});
  train::QatConfig c;
  c.schedule.total_steps = 1;
  c.batch_size = 2;
  c.selective_checkpointing = true;
  const at::Tensor data = at::randint(3, 200, {4, 9}, at::kLong);
  try {
    train::train_qat(m, data, c);
    ADD_FAILURE() << "selective checkpointing without checkpointing was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs activation checkpointing"), std::string::npos) << e.what();
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
  const nlohmann::json changes = {{"hidden_size", 1024},        {"intermediate_size", 4096}, {"num_hidden_layers", 8},
                                   {"num_attention_heads", 16},  {"num_key_value_heads", 4},  {"head_dim", 64},
                                   {"max_position_embeddings", 1024}, {"vocab_size", 32000}};
  const at::Tensor data = at::randint(3, 32000, {64, 513}, at::kLong);
  // The first pass warms up cuBLAS and the allocator and is not printed.
  for (int pass : {0, 1, 2}) {
    const bool checkpointing = pass == 2;
    auto m = random_model("llama", changes);
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
