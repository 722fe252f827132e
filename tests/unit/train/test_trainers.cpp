// QAT and OmniQuant with the MatQuant objective on the tiny llama fixture (CPU-sized, seconds).
#include "common/error.h"
#include "model/pretrained.h"
#include "quant/slicing.h"
#include "test_device.h"
#include "train/nested_checkpoint.h"
#include "train/losses.h"
#include "train/omniquant_trainer.h"
#include "train/qat_trainer.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

using namespace matquant;
using matquant::testing::test_device;

namespace {

const std::string kLlama = std::string(MATQUANT_FIXTURES_DIR) + "/models/llama";

model::DecoderModel quantized_llama(bool clipping, quant::SliceMode mode = quant::SliceMode::kClamped,
                                    int source_bits = 8) {
  auto m = model::load_pretrained(kLlama, {at::kFloat, test_device()});
  model::QuantizerConfig q;
  q.source_bits = source_bits;
  q.learnable_clipping = clipping;
  q.slice_mode = mode;
  m->enable_quantization(model::QuantScope::kFfn, q);
  return m;
}

// A learnable toy language: token t+1 follows token t (mod 64), offset by a per-row start.
at::Tensor toy_sequences(int64_t rows, int64_t length) {
  const at::Tensor start = at::randint(3, 200, {rows, 1}, at::kLong);
  return (start + at::arange(length + 1, at::kLong).view({1, -1})).remainder(253) + 3;
}

train::QatConfig short_qat(train::Objective objective, int steps) {
  train::QatConfig c;
  c.objective = std::move(objective);
  c.schedule.peak = 3e-3;
  c.schedule.warmup_steps = 2;
  c.schedule.total_steps = steps;
  c.batch_size = 4;
  return c;
}

at::Tensor flat_weights(model::DecoderModel& m) {
  std::vector<at::Tensor> parts;
  for (auto& p : m->parameters()) parts.push_back(p.detach().reshape({-1}).to(at::kCPU));
  return at::cat(parts);
}

// Unique per process: two test runs at once (ctest -j, a second checkout) must not share a state dir.
std::string temp_path(const std::string& name) {
  return (boost::filesystem::temp_directory_path() /
          boost::filesystem::unique_path("matquant_train_%%%%%%%%_" + name))
      .string();
}

}  // namespace

TEST(Qat, MatQuantLossDecreasesAtEveryPrecision) {
  at::manual_seed(0);
  auto m = quantized_llama(false);
  const auto summary = train::train_qat(m, toy_sequences(32, 16), short_qat(train::Objective::plain({8, 4, 2}), 30));
  ASSERT_FALSE(summary.diverged);
  for (int bits : {8, 4, 2}) {
    EXPECT_LT(summary.curve.back().loss_by_bits.at(bits), 0.7 * summary.curve.front().loss_by_bits.at(bits)) << bits;
  }
}

TEST(Qat, ZeroLambdaRemovesThatPrecisionsEffect) {
  // R = {8, 2} with lambda_2 = 0 trains exactly what R = {8} trains.
  at::manual_seed(0);
  const at::Tensor data = toy_sequences(16, 12);
  auto a = quantized_llama(false);
  train::train_qat(a, data, short_qat(train::Objective::plain({8, 2}, {1.0, 0.0}), 5));
  auto b = quantized_llama(false);
  train::train_qat(b, data, short_qat(train::Objective::plain({8}), 5));
  EXPECT_TRUE(at::allclose(flat_weights(a), flat_weights(b), 0, 1e-7));
}

TEST(Qat, SinglePrecisionMatQuantIsTheObjectiveWithOnlyR) {
  // S.P. MatQuant = R = {2} sliced from c = 8; equal to (0, 0, 1) lambdas over {8, 4, 2}.
  at::manual_seed(0);
  const at::Tensor data = toy_sequences(16, 12);
  auto sp = quantized_llama(false);
  train::train_qat(sp, data, short_qat(train::Objective::plain({2}), 4));
  auto weighted = quantized_llama(false);
  train::train_qat(weighted, data, short_qat(train::Objective::plain({8, 4, 2}, {0.0, 0.0, 1.0}), 4));
  EXPECT_TRUE(at::allclose(flat_weights(sp), flat_weights(weighted), 0, 1e-7));
}

TEST(Qat, DivergenceIsReportedNotHidden) {
  auto m = quantized_llama(false);
  auto config = short_qat(train::Objective::plain({8}), 3);
  config.schedule.peak = 1e30;  // blows up
  config.gradient_clip = 0;
  const auto summary = train::train_qat(m, toy_sequences(8, 8), config);
  EXPECT_TRUE(summary.diverged);
}

TEST(Qat, KilledAndResumedRunReachesTheSameWeights) {
  const at::Tensor data = toy_sequences(16, 12);
  const std::string state = temp_path("resume");
  boost::filesystem::remove_all(state);
  auto full = quantized_llama(false);
  train::train_qat(full, data, short_qat(train::Objective::plain({8, 4, 2}), 6));

  // "Killed" after 3 of 6 steps: a run with the same schedule stops early, leaving its state.
  auto first = quantized_llama(false);
  auto partial = short_qat(train::Objective::plain({8, 4, 2}), 6);
  partial.state_dir = state;
  partial.save_every = 3;
  partial.on_step = [](const train::StepReport& r) {
    if (r.step == 3) throw std::runtime_error("simulated kill");
  };
  EXPECT_THROW(train::train_qat(first, data, partial), std::runtime_error);

  auto resumed = quantized_llama(false);
  partial.on_step = nullptr;
  const auto summary = train::train_qat(resumed, data, partial);
  EXPECT_TRUE(summary.resumed);
  EXPECT_EQ(summary.steps, 6);
  EXPECT_TRUE(at::equal(flat_weights(resumed), flat_weights(full)));
  boost::filesystem::remove_all(state);
}

TEST(Qat, CoDistillationTrainsTheStudentTowardsTheTeacher) {
  at::manual_seed(0);
  auto m = quantized_llama(false);
  const auto objective = train::Objective::parse("[8, 4, 8->2]");
  const auto summary = train::train_qat(m, toy_sequences(16, 12), short_qat(objective, 15));
  ASSERT_FALSE(summary.diverged);
  // int2 has no ground-truth term: its loss is the KL to int8, which must shrink.
  EXPECT_LT(summary.curve.back().loss_by_bits.at(2), summary.curve.front().loss_by_bits.at(2));
}

TEST(OmniQuant, BlockLossDecreasesAndCodesAreFrozen) {
  at::manual_seed(0);
  auto m = quantized_llama(true);
  train::OmniQuantConfig config;
  config.epochs = 10;
  config.batch_size = 4;
  config.clipping_learning_rate = 5e-2;
  config.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  const at::Tensor calibration = toy_sequences(8, 16).slice(1, 0, -1);
  const auto summary = train::calibrate_omniquant(m, calibration, config, test_device());
  ASSERT_EQ(summary.blocks.size(), 3u);
  for (const auto& block : summary.blocks) {
    // Learned clipping lowers each block's int2 reconstruction error below plain MinMax's.
    EXPECT_LT(block.epoch_losses.back().at(2), block.epoch_losses.front().at(2)) << "block " << block.layer;
  }
  for (auto& [name, layer, linear] : m->quantized_linears()) EXPECT_TRUE(linear->codes().has_value()) << name;
}

// The activation streams a block trains on are the frozen blocks before it: with a zero learning
// rate, the last block's first loss at each precision is the mean squared error between it on the
// stream of the quantized blocks before it (their frozen codes, at that precision) and it at full
// precision on the full-precision stream. Catches a stream overwritten or shared by mistake (the
// trainer updates the streams in place once each owns its memory).
TEST(OmniQuant, EachBlockTrainsOnTheOutputsOfTheFrozenBlocksBeforeIt) {
  for (bool on_cpu : {false, true}) {
    SCOPED_TRACE(on_cpu ? "activations kept on the CPU" : "activations on the device");
    at::manual_seed(0);
    auto m = quantized_llama(true);
    train::OmniQuantConfig config;
    config.epochs = 1;
    // Two batches of four: the epoch's loss is the mean of two equal-sized batches' mean squared
    // errors, so it equals the error over all eight sequences if each batch sits where it belongs.
    config.batch_size = 4;
    config.keep_activations_on_cpu = on_cpu;
    config.clipping_learning_rate = 0.0;
    config.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
    const at::Tensor calibration = toy_sequences(8, 16).slice(1, 0, -1);
    const auto summary = train::calibrate_omniquant(m, calibration, config, test_device());
    ASSERT_EQ(summary.blocks.size(), 3u);
    c10::NoGradGuard no_grad;
    const at::Tensor ids = calibration.to(test_device());
    const auto attention = m->prepare_attention({}, ids.size(0), ids.size(1), at::kFloat, test_device());
    auto through = [&](std::optional<int> bits, size_t layers) {
      for (auto& [name, index, linear] : m->quantized_linears()) linear->set_precision(bits);
      at::Tensor h = m->embed(ids);
      for (size_t i = 0; i < layers; ++i) {
        auto& layer = m->layers[i];
        h = layer->forward(h, attention.mask_for(*layer, m->config()), attention.cos, attention.sin);
      }
      return h;
    };
    const size_t last = m->layers.size() - 1;
    const at::Tensor target = through(std::nullopt, last + 1);
    for (int bits : {8, 4, 2}) {
      const at::Tensor out = through(bits, last + 1);
      const double expected = train::block_output_loss(out, target).item<double>();
      const double reported = summary.blocks.back().epoch_losses.front().at(bits);
      EXPECT_NEAR(reported, expected, 1e-4 * expected + 1e-9) << "int" << bits;
    }
  }
}

TEST(ExtraPrecision, SlicesHaveTwoToTheRPlusOneLevels) {
  auto m = quantized_llama(false, quant::SliceMode::kExtraPrecision);
  for (auto& [name, layer, linear] : m->quantized_linears()) linear->freeze_codes();
  auto linear = std::get<2>(m->quantized_linears().front());
  // Codes spanning the whole int8 range: the int2 slice then uses 0, 64, 128, 192 and 256.
  const at::Tensor sliced = linear->codes()->sliced_codes(2, quant::SliceMode::kExtraPrecision);
  const at::Tensor levels = std::get<0>(at::_unique(sliced.to(at::kCPU)));
  EXPECT_EQ(levels.numel(), 5);
  EXPECT_EQ(levels.max().item<int64_t>(), 256);
}

TEST(NestedCheckpoint, SaveLoadIsBitExactAtEveryPrecision) {
  auto m = quantized_llama(true);
  const at::Tensor ids = toy_sequences(2, 10).slice(1, 0, -1);
  const std::string path = temp_path("checkpoint.safetensors");
  train::save_nested_checkpoint(m, path, {{"note", "test"}});
  auto loaded = train::load_nested_checkpoint(path, at::kFloat, test_device());
  EXPECT_EQ(loaded.metadata.at("note"), "test");
  for (const char* plan : {"8", "4", "2", "6", "3"}) {
    m->set_precision(quant::PrecisionPlan::parse(plan));
    loaded.model->set_precision(quant::PrecisionPlan::parse(plan));
    EXPECT_TRUE(at::equal(m->forward(ids), loaded.model->forward(ids))) << plan;
  }
  auto saved = std::get<2>(m->quantized_linears()[0])->codes()->codes;
  auto back = std::get<2>(loaded.model->quantized_linears()[0])->codes()->codes;
  EXPECT_TRUE(at::equal(saved, back));
  boost::filesystem::remove(path);
}
