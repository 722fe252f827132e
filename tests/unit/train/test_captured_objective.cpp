// QAT steps whose passes replay from a CUDA graph (train/captured_objective.h) against the same
// steps launched eagerly: the graph runs the eager loop's kernels on the same inputs, so losses,
// gradients and weights must come out bit for bit the same, step after step.
#include "model/pretrained.h"
#include "test_device.h"
#include "train/qat_trainer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace matquant;
using matquant::testing::test_device;

namespace {

struct Case {
  std::string name;
  std::string family = "llama";
  std::string objective = "[8, 4, 2]";
  model::QuantScope scope = model::QuantScope::kFfn;
  bool checkpointing = false;
  int64_t accumulation = 1;
};

struct TrainedRun {
  train::TrainingSummary summary;
  std::vector<at::Tensor> weights, gradients;
};

// Rows shifting by one token per position (mod 250), so a batch holds no repeated token pattern.
at::Tensor rows_of_tokens(int64_t rows, int64_t length) {
  at::manual_seed(0);
  const at::Tensor start = at::randint(3, 200, {rows, 1}, at::kLong);
  return (start + at::arange(length + 1, at::kLong).view({1, -1})).remainder(250) + 3;
}

TrainedRun train_run(const Case& c, bool cuda_graph) {
  auto m = model::load_pretrained(std::string(MATQUANT_FIXTURES_DIR) + "/models/" + c.family,
                                  {at::kFloat, test_device()});
  m->enable_quantization(c.scope, {});
  train::QatConfig config;
  config.objective = train::Objective::parse(c.objective);
  config.schedule.peak = 3e-3;
  config.schedule.warmup_steps = 1;
  config.schedule.total_steps = 4;
  config.batch_size = 2;
  config.gradient_accumulation = c.accumulation;
  config.activation_checkpointing = c.checkpointing;
  config.cuda_graph = cuda_graph;
  TrainedRun run;
  // The last step's gradients, read after its update: the graph's buffers must hold them after
  // its replays (a captured run drops them when training ends).
  config.on_step = [&](const train::StepReport& report) {
    if (report.step != report.total_steps) return;
    for (const auto& p : m->parameters()) {
      run.gradients.push_back(p.grad().defined() ? p.grad().to(at::kCPU) : at::Tensor());
    }
  };
  run.summary = train::train_qat(m, rows_of_tokens(24, 12), config);
  for (const auto& p : m->parameters()) run.weights.push_back(p.detach().to(at::kCPU));
  return run;
}

}  // namespace

TEST(CapturedObjective, ReplayedStepsEqualEagerSteps) {
  if (!test_device().is_cuda()) GTEST_SKIP() << "CUDA graphs need a CUDA device";
  const std::vector<Case> cases = {
      {"MatQuant {8,4,2}, FFN"},
      {"Gemma-2 (tied embeddings, softcaps, sliding window), FFN + attention", "gemma2", "[8, 4, 2]",
       model::QuantScope::kFfnAndAttention},
      {"co-distillation [8, 4, 8->2]", "llama", "[8, 4, 8->2]"},
      {"activation checkpointing", "mistral", "[8, 4, 2]", model::QuantScope::kFfn, true},
      {"two micro-batches per step", "qwen2", "[8, 2]", model::QuantScope::kFfn, false, 2},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const TrainedRun eager = train_run(c, false);
    const TrainedRun graphed = train_run(c, true);
    EXPECT_FALSE(eager.summary.cuda_graph);
    ASSERT_TRUE(graphed.summary.cuda_graph) << "the capture failed and training fell back to eager steps";
    ASSERT_EQ(graphed.summary.curve.size(), eager.summary.curve.size());
    for (size_t s = 0; s < eager.summary.curve.size(); ++s) {
      for (const auto& [bits, loss] : eager.summary.curve[s].loss_by_bits) {
        EXPECT_EQ(graphed.summary.curve[s].loss_by_bits.at(bits), loss) << "step " << s + 1 << ", int" << bits;
      }
    }
    ASSERT_EQ(graphed.weights.size(), eager.weights.size());
    ASSERT_EQ(graphed.gradients.size(), eager.weights.size());
    ASSERT_EQ(eager.gradients.size(), eager.weights.size());
    for (size_t i = 0; i < eager.weights.size(); ++i) {
      EXPECT_TRUE(at::equal(graphed.weights[i], eager.weights[i]))
          << "parameter " << i << ": max |difference| "
          << (graphed.weights[i] - eager.weights[i]).abs().max().item<double>();
      ASSERT_EQ(graphed.gradients[i].defined(), eager.gradients[i].defined()) << "parameter " << i;
      if (eager.gradients[i].defined()) EXPECT_TRUE(at::equal(graphed.gradients[i], eager.gradients[i])) << i;
    }
  }
}

TEST(CapturedObjective, OnTheCpuStepsRunEagerly) {
  if (test_device().is_cuda()) GTEST_SKIP() << "the CPU path";
  Case c{"MatQuant {8,4,2}, FFN"};
  const TrainedRun run = train_run(c, true);
  EXPECT_FALSE(run.summary.cuda_graph);
  EXPECT_EQ(run.summary.steps, 4);
}
