// The `weights` rows an eval job records, on the tiny llama fixture (hidden 64, FFN 128, 3 layers,
// vocab 256, untied head) with hand-set codes: every row of every FFN matrix has one code 255
// (a MinMax channel maximum, in every extra bucket) and zeros elsewhere.
#include "jobs/weight_metrics.h"
#include "model/pretrained.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <map>

using namespace matquant;
using matquant::testing::test_device;

namespace {

const std::string kLlama = std::string(MATQUANT_FIXTURES_DIR) + "/models/llama";

// Embeddings and head 2 x 256 x 64; per layer q, o 64 x 64, k, v 32 x 64, FFN 3 x 128 x 64,
// two norms of 64; the final norm 64.
constexpr double kParameters = 2 * 16384 + 3 * (4096 + 2048 + 2048 + 4096 + 3 * 8192 + 128) + 64;
constexpr double kFfnParameters = 3 * 3 * 8192;
// Rows of gate, up (128 each) and down (64) per layer: one code 255 each.
constexpr double kTopCodesPerLayer = 128 + 128 + 64;

model::DecoderModel model_with_codes(quant::SliceMode mode) {
  auto net = model::load_pretrained(kLlama, {at::kFloat, test_device()});
  model::QuantizerConfig quantizer;
  quantizer.slice_mode = mode;
  net->enable_quantization(model::QuantScope::kFfn, quantizer);
  for (auto& [name, layer, linear] : net->quantized_linears()) {
    const int64_t out = linear->weight.size(0), in = linear->weight.size(1);
    quant::NestedCodes codes;
    codes.codes = at::zeros({out, in}, at::TensorOptions(at::kByte).device(test_device()));
    codes.codes.select(1, 0).fill_(255);
    codes.scale = at::ones({out, 1}, at::TensorOptions(at::kFloat).device(test_device()));
    codes.zero_point = at::zeros({out, 1}, at::TensorOptions(at::kFloat).device(test_device()));
    linear->load_codes(std::move(codes));
  }
  return net;
}

std::map<std::string, double> by_metric(const std::vector<jobs::MetricRow>& rows, const std::string& label) {
  std::map<std::string, double> out;
  for (const auto& row : rows) {
    EXPECT_EQ(row.precision, label);
    EXPECT_EQ(row.task, "weights");
    out[row.metric] = row.value;
  }
  return out;
}

}  // namespace

TEST(WeightMetrics, Bf16RecordsParametersOnly) {
  auto net = model::load_pretrained(kLlama, {at::kFloat, test_device()});
  const auto m = by_metric(jobs::weight_metrics(net, "bf16"), "bf16");
  EXPECT_EQ(m, (std::map<std::string, double>{{"parameters", kParameters}, {"quantized_parameters", 0.0}}));
}

TEST(WeightMetrics, ClampedSlicesCostTheirWidth) {
  auto net = model_with_codes(quant::SliceMode::kClamped);
  net->set_precision(quant::PrecisionPlan::per_layer({2, 4, 8}));
  const auto m = by_metric(jobs::weight_metrics(net, "plan:2,4,8"), "plan:2,4,8");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_DOUBLE_EQ(m.at("parameters"), kParameters);
  EXPECT_DOUBLE_EQ(m.at("quantized_parameters"), kFfnParameters);
  EXPECT_DOUBLE_EQ(m.at("effective_bits"), 14.0 / 3);  // equal-sized layers at 2, 4 and 8 bits
}

TEST(WeightMetrics, ExtraPrecisionUniformInt2) {
  auto net = model_with_codes(quant::SliceMode::kExtraPrecision);
  net->set_precision(quant::PrecisionPlan::uniform(2));
  const auto m = by_metric(jobs::weight_metrics(net, "ep-int2"), "ep-int2");
  const double f = 3 * kTopCodesPerLayer / kFfnParameters;  // 960 / 73728 = 5/384
  EXPECT_DOUBLE_EQ(m.at("extra_fraction"), f);
  EXPECT_DOUBLE_EQ(m.at("effective_bits"), 2 + 32 * f);  // index32, the default: 2 + 5/12
  EXPECT_DOUBLE_EQ(m.at("effective_bits_flag"), 2 + f);
  EXPECT_DOUBLE_EQ(m.at("quantized_parameters"), kFfnParameters);
}

// Mix'n'Match on an Extra-Precision checkpoint: the int8 layer has no extra bucket, and every
// metric is weighted by the layers' parameters.
TEST(WeightMetrics, ExtraPrecisionMixNMatchWeightsLayers) {
  auto net = model_with_codes(quant::SliceMode::kExtraPrecision);
  net->set_precision(quant::PrecisionPlan::per_layer({2, 4, 8}));
  const auto m = by_metric(jobs::weight_metrics(net, "plan:2,4,8"), "plan:2,4,8");
  const double f = 2 * kTopCodesPerLayer / kFfnParameters;  // 640 / 73728 = 5/576
  EXPECT_DOUBLE_EQ(m.at("extra_fraction"), f);
  EXPECT_DOUBLE_EQ(m.at("effective_bits"), 14.0 / 3 + 32 * f);
  EXPECT_DOUBLE_EQ(m.at("effective_bits_flag"), 14.0 / 3 + f);
}
