// Post-training bases (lib/train/gptq_calibration, lib/train/activation_aware_scaling): SmoothQuant
// and AWQ fold exactly (the smoothed block computes what it did), AWQ's searched scales quantize a
// block no worse than no smoothing (alpha = 0, the identity, is on its grid), SmoothQuant uses
// Eq. 4's scales, AWQ picks llm-compressor's scales on the Llama FFN (tests/fixtures/awq), and
// whole-model GPTQ leaves frozen nested codes that beat round to nearest on the
// calibration data's block outputs.
#include "common/error.h"
#include "model/config.h"
#include "model/pretrained.h"
#include "test_device.h"
#include "train/activation_aware_scaling.h"
#include "train/gptq_calibration.h"
#include "train/nested_checkpoint.h"

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include <gtest/gtest.h>

using namespace matquant;
using matquant::testing::test_device;

namespace {

const std::string kFixtures = std::string(MATQUANT_FIXTURES_DIR) + "/models/";

model::DecoderModel fixture(const std::string& family, model::QuantScope scope, int bits) {
  auto m = model::load_pretrained(kFixtures + family, {at::kFloat, test_device()});
  model::QuantizerConfig q;
  q.source_bits = bits;
  m->enable_quantization(scope, q);
  return m;
}

struct Block {
  model::DecoderModel model;
  std::function<at::Tensor(const at::Tensor&)> run;
  std::vector<at::Tensor> inputs;
};

Block block_of(model::DecoderModel m) {
  Block b{m, {}, {}};
  at::manual_seed(0);
  // Inputs with a few loud channels, as real hidden states have.
  at::Tensor x = at::randn({4, 16, m->config().hidden_size}, at::TensorOptions(test_device()));
  x.select(2, 1).mul_(20.0);
  x.select(2, 7).mul_(8.0);
  b.inputs = {x.slice(0, 0, 2), x.slice(0, 2, 4)};
  auto attention = std::make_shared<model::DecoderModelImpl::AttentionInputs>(
      m->prepare_attention({}, 2, 16, at::kFloat, test_device()));
  b.run = [m, attention](const at::Tensor& input) mutable {
    auto& layer = m->layers[0];
    return layer->forward(input, attention->mask_for(*layer, m->config()), attention->cos, attention->sin).detach();
  };
  return b;
}

double quantized_error(Block& b, int bits) {
  double total = 0.0;
  std::vector<at::Tensor> reference;
  for (const auto& x : b.inputs) reference.push_back(b.run(x));
  b.model->set_precision(quant::PrecisionPlan::uniform(bits));
  for (size_t i = 0; i < b.inputs.size(); ++i) total += (b.run(b.inputs[i]) - reference[i]).square().mean().item<double>();
  b.model->set_precision(std::nullopt);
  return total;
}

}  // namespace

TEST(Smoothing, FoldsExactlyAndAwqIsNoWorseThanNone) {
  for (const char* family : {"llama", "gemma2"}) {
    for (auto method : {train::Smoothing::kSmoothQuant, train::Smoothing::kAwq}) {
      Block plain = block_of(fixture(family, model::QuantScope::kFfnAndAttention, 4));
      Block smoothed = block_of(fixture(family, model::QuantScope::kFfnAndAttention, 4));
      std::vector<at::Tensor> before;
      for (const auto& x : smoothed.inputs) before.push_back(smoothed.run(x));
      train::SmoothingConfig config;
      config.method = method;
      config.bits = {4};
      config.lambdas = {1.0};
      const auto report = train::smooth_block(*smoothed.model->layers[0], smoothed.inputs, smoothed.run, config);
      EXPECT_EQ(report.alpha_by_pair.size(), 4u) << family;
      for (size_t i = 0; i < before.size(); ++i) {
        EXPECT_TRUE(at::allclose(smoothed.run(smoothed.inputs[i]), before[i], 1e-4, 1e-4)) << family;
      }
      if (method == train::Smoothing::kAwq) {
        EXPECT_LE(quantized_error(smoothed, 4), quantized_error(plain, 4) * (1 + 1e-6)) << family;
      } else {
        for (const auto& [pair, alpha] : report.alpha_by_pair) EXPECT_EQ(alpha, 0.5) << pair;
      }
    }
  }
}

TEST(Smoothing, ParsesItsNames) {
  EXPECT_EQ(train::parse_smoothing("awq"), train::Smoothing::kAwq);
  EXPECT_EQ(train::parse_smoothing("smoothquant"), train::Smoothing::kSmoothQuant);
  EXPECT_EQ(train::parse_smoothing("none"), train::Smoothing::kNone);
  EXPECT_THROW(train::parse_smoothing("gptq"), Error);
}

TEST(GptqCalibration, FreezesCodesThatBeatRoundToNearest) {
  auto gptq_model = fixture("llama", model::QuantScope::kFfnAndAttention, 4);
  auto rtn_model = fixture("llama", model::QuantScope::kFfnAndAttention, 4);
  at::manual_seed(1);
  const at::Tensor calibration = at::randint(gptq_model->config().vocab_size, {8, 32}, at::kLong);
  train::GptqCalibrationConfig config;
  config.bits = {4};
  config.lambdas = {1.0};
  const auto summary = train::calibrate_gptq(gptq_model, calibration, config, test_device());
  EXPECT_EQ(summary.blocks.size(), gptq_model->layers.size());
  EXPECT_EQ(summary.feed_bits, 4);
  config.round_to_nearest = true;
  train::calibrate_gptq(rtn_model, calibration, config, test_device());
  size_t frozen = 0;
  for (auto& [name, index, linear] : gptq_model->quantized_linears()) frozen += linear->codes().has_value();
  EXPECT_EQ(frozen, gptq_model->quantized_linears().size());
  // Round to nearest through the calibration path is the plain MinMax code store.
  for (auto& [name, index, linear] : rtn_model->quantized_linears()) {
    EXPECT_TRUE(at::equal(linear->codes()->codes, quant::NestedCodes::quantize(linear->weight, 4, 0).codes)) << name;
  }
  // Logits on the calibration sequences: GPTQ's int4 is closer to full precision than RTN's.
  auto reference = model::load_pretrained(kFixtures + "llama", {at::kFloat, test_device()});
  const at::Tensor tokens = calibration.to(test_device());
  const at::Tensor fp = reference->forward(tokens);
  gptq_model->set_precision(quant::PrecisionPlan::uniform(4));
  rtn_model->set_precision(quant::PrecisionPlan::uniform(4));
  const double gptq_error = (gptq_model->forward(tokens) - fp).square().mean().item<double>();
  const double rtn_error = (rtn_model->forward(tokens) - fp).square().mean().item<double>();
  EXPECT_LT(gptq_error, rtn_error);
}

// Matryoshka MXINT for a whole model (format: mxint): GPTQ leaves MXINT8 codes whose slices are
// what each precision serves, MXINT4 GPTQ beats MXINT4 round to nearest, and a nested checkpoint
// stores and restores the codes and exponents exactly.
TEST(GptqCalibration, MxintStoresServeSlicesAndSurviveACheckpoint) {
  auto make = [](int bits) {
    auto m = model::load_pretrained(kFixtures + "llama", {at::kFloat, test_device()});
    model::QuantizerConfig q;
    q.source_bits = bits;
    q.mx_block_size = 16;
    m->enable_quantization(model::QuantScope::kFfnAndAttention, q);
    return m;
  };
  at::manual_seed(2);
  auto nested = make(8);
  const at::Tensor calibration = at::randint(nested->config().vocab_size, {8, 32}, at::kLong);
  train::GptqCalibrationConfig config;
  config.bits = {8, 4, 2};
  config.lambdas = {0.1, 0.1, 1.0};
  train::calibrate_gptq(nested, calibration, config, test_device());
  for (auto& [name, index, linear] : nested->quantized_linears()) {
    ASSERT_TRUE(linear->mx_codes().has_value()) << name;
    EXPECT_FALSE(linear->codes().has_value()) << name;
    const auto& stored = *linear->mx_codes();
    EXPECT_EQ(stored.format.element_bits, 8);
    EXPECT_EQ(stored.format.block_size, 16);
    for (int r : {8, 4, 2}) {
      linear->set_precision(r);
      const auto expected = r == 8 ? stored.dequantize() : quant::slice_mx_codes(stored, r).dequantize();
      EXPECT_TRUE(at::equal(linear->effective_weight().cpu(), expected.cpu())) << name << " r=" << r;
    }
  }
  const std::string path = (boost::filesystem::temp_directory_path() /
                            boost::filesystem::unique_path("matquant_mx_%%%%%%%%.safetensors")).string();
  train::save_nested_checkpoint(nested, path, {{"note", "mx"}});
  auto loaded = train::load_nested_checkpoint(path, at::kFloat, test_device());
  boost::filesystem::remove(path);
  const at::Tensor tokens = calibration.to(test_device());
  for (int r : {8, 4, 3, 2}) {
    nested->set_precision(quant::PrecisionPlan::uniform(r));
    loaded.model->set_precision(quant::PrecisionPlan::uniform(r));
    EXPECT_TRUE(at::equal(nested->forward(tokens), loaded.model->forward(tokens))) << r;
  }
  // Plain MXINT4: GPTQ's logits are closer to full precision than round to nearest's.
  auto gptq4 = make(4);
  auto rtn4 = make(4);
  config.bits = {4};
  config.lambdas = {1.0};
  train::calibrate_gptq(gptq4, calibration, config, test_device());
  config.round_to_nearest = true;
  train::calibrate_gptq(rtn4, calibration, config, test_device());
  for (auto& [name, index, linear] : rtn4->quantized_linears()) {
    EXPECT_TRUE(at::equal(linear->mx_codes()->codes.cpu(), quant::mx_quantize(linear->weight, {4, 16}).codes.cpu())) << name;
  }
  auto reference = model::load_pretrained(kFixtures + "llama", {at::kFloat, test_device()});
  const at::Tensor fp = reference->forward(tokens);
  gptq4->set_precision(quant::PrecisionPlan::uniform(4));
  rtn4->set_precision(quant::PrecisionPlan::uniform(4));
  EXPECT_LT((gptq4->forward(tokens) - fp).square().mean().item<double>(),
            (rtn4->forward(tokens) - fp).square().mean().item<double>());
}

TEST(Smoothing, AwqChoosesLlmCompressorsScalesOnTheLlamaFfn) {
  // tests/reference/make_awq_fixtures.py: llm-compressor's AWQModifier (duo_scaling off, ratios k/20)
  // with int4 asymmetric per-channel MinMax on the fixture Llama's FFN mappings. For a Llama block its
  // loss on the MLP's / down_proj's output is our block-output error, so the same grid point must win
  // and the smoothed norm must match. On the CPU, where the fixture was made.
  std::ifstream in(std::string(MATQUANT_FIXTURES_DIR) + "/awq/reference.json");
  ASSERT_TRUE(in.good());
  const auto fixture_json = nlohmann::json::parse(in);
  auto m = model::load_pretrained(kFixtures + "llama", {at::kFloat, at::kCPU});
  model::QuantizerConfig q;
  q.source_bits = fixture_json["bits"].get<int>();
  m->enable_quantization(model::QuantScope::kFfn, q);
  const auto ids = fixture_json["input_ids"].get<std::vector<std::vector<int64_t>>>();
  std::vector<at::Tensor> inputs;
  {
    c10::NoGradGuard no_grad;
    for (const auto& row : ids) inputs.push_back(m->embed(at::tensor(row, at::kLong).view({1, -1})));
  }
  const int64_t length = int64_t(ids.front().size());
  const auto attention = m->prepare_attention({}, 1, length, at::kFloat, at::kCPU);
  auto& layer = m->layers[0];
  const auto run = [&](const at::Tensor& x) {
    return layer->forward(x, attention.mask_for(*layer, m->config()), attention.cos, attention.sin).detach();
  };
  const at::Tensor norm_before = layer->post_attention_layernorm.detach().clone();
  ASSERT_TRUE(at::allclose(norm_before, at::tensor(fixture_json["post_attention_layernorm_before"].get<std::vector<float>>())));
  train::SmoothingConfig config;
  config.method = train::Smoothing::kAwq;
  config.grid = fixture_json["grid"].get<int64_t>();
  config.bits = {q.source_bits};
  config.lambdas = {1.0};
  const auto report = train::smooth_block(*layer, inputs, run, config);
  EXPECT_DOUBLE_EQ(report.alpha_by_pair.at("ffn_input"), fixture_json["ffn_input"]["ratio"].get<double>());
  EXPECT_DOUBLE_EQ(report.alpha_by_pair.at("up_down"), fixture_json["up_down"]["ratio"].get<double>());
  // The norm feeding gate and up is divided by llm-compressor's chosen scales.
  const at::Tensor expected = at::tensor(fixture_json["post_attention_layernorm_after"].get<std::vector<float>>());
  EXPECT_TRUE(at::allclose(layer->post_attention_layernorm.detach(), expected, 1e-5, 1e-7))
      << (layer->post_attention_layernorm.detach() - expected).abs().max().item<double>();
  const at::Tensor scales = at::tensor(fixture_json["ffn_input"]["scales"].get<std::vector<float>>());
  EXPECT_TRUE(at::allclose(norm_before / layer->post_attention_layernorm.detach(), scales, 1e-5, 1e-7));
}

TEST(Smoothing, SmoothQuantMatchesLlmCompressorOnSymmetricRanges) {
  // tests/reference/make_smoothquant_fixtures.py: llm-compressor scales by (max X - min X)^a /
  // (2 max|W|)^(1-a), seed 004 by max|X|^a / max|W|^(1-a); at a = 0.5 they agree when every channel's
  // range is symmetric, which the fixture arranges (negated embedding twins, each sequence with its
  // twin: layer 0 is odd up to the MLP). Both norms of layer 0 must then come out as llm-compressor's.
  std::ifstream in(std::string(MATQUANT_FIXTURES_DIR) + "/smoothquant/reference.json");
  ASSERT_TRUE(in.good());
  const auto fixture_json = nlohmann::json::parse(in);
  auto m = model::load_pretrained(kFixtures + "llama", {at::kFloat, at::kCPU});
  const int64_t twin = fixture_json["twin_offset"].get<int64_t>();
  {
    c10::NoGradGuard no_grad;
    m->embed_tokens.slice(0, twin, 2 * twin).copy_(-m->embed_tokens.slice(0, 0, twin));
  }
  m->enable_quantization(model::QuantScope::kFfnAndAttention, {});
  const auto ids = fixture_json["input_ids"].get<std::vector<std::vector<int64_t>>>();
  std::vector<at::Tensor> inputs;
  {
    c10::NoGradGuard no_grad;
    for (const auto& row : ids) inputs.push_back(m->embed(at::tensor(row, at::kLong).view({1, -1})));
  }
  const auto attention = m->prepare_attention({}, 1, int64_t(ids.front().size()), at::kFloat, at::kCPU);
  auto& layer = m->layers[0];
  const auto run = [&](const at::Tensor& x) {
    return layer->forward(x, attention.mask_for(*layer, m->config()), attention.cos, attention.sin).detach();
  };
  train::SmoothingConfig config;
  config.method = train::Smoothing::kSmoothQuant;
  config.alpha = fixture_json["alpha"].get<double>();
  train::smooth_block(*layer, inputs, run, config);
  const std::map<std::string, at::Tensor> norms{{"input_layernorm", layer->input_layernorm},
                                                {"post_attention_layernorm", layer->post_attention_layernorm}};
  for (const auto& [name, norm] : norms) {
    const at::Tensor expected = at::tensor(fixture_json["after"][name].get<std::vector<float>>());
    const at::Tensor before = at::tensor(fixture_json["before"][name].get<std::vector<float>>());
    EXPECT_FALSE(at::allclose(before, expected, 1e-3, 0)) << name << ": the fixture's smoothing changed nothing";
    EXPECT_TRUE(at::allclose(norm.detach(), expected, 1e-5, 1e-7))
        << name << " " << ((norm.detach() - expected).abs() / expected.abs()).max().item<double>();
  }
}
