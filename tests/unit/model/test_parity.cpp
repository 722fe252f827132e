// Logit parity with Hugging Face transformers on the committed tiny fixtures
// (tests/reference/make_model_fixtures.py writes them; this test needs no Python).
#include "model/pretrained.h"
#include "model/safetensors.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

using namespace matquant::model;
using matquant::testing::test_device;

namespace {

// fp32 parity bound the issue sets for our forward against transformers'.
constexpr double kFp32Tolerance = 1e-4;
// bf16 keeps 8 mantissa bits; across a few layers logits drift by a few hundredths of their scale.
constexpr double kBf16RelativeTolerance = 0.05;

std::string fixture(const std::string& family) {
  return std::string(MATQUANT_FIXTURES_DIR) + "/models/" + family;
}

struct Reference {
  at::Tensor input_ids, attention_mask, logits, batched_logits;
};

Reference read_reference(const std::string& family) {
  const auto reader = SafetensorsReader::open(fixture(family) + "/reference.safetensors");
  return {reader.load("input_ids"), reader.load("attention_mask"), reader.load("logits"),
          reader.load("batched_logits")};
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kCPU).to(at::kDouble) - b.to(at::kCPU).to(at::kDouble)).abs().max().item<double>();
}

class FamilyParity : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyParity, EachSequenceAloneMatchesTransformersInFp32) {
  const auto ref = read_reference(GetParam());
  auto model = load_pretrained(fixture(GetParam()), {at::kFloat, test_device()});
  model->eval();
  for (int64_t i = 0; i < ref.input_ids.size(0); ++i) {
    const int64_t length = ref.attention_mask[i].sum().item<int64_t>();
    const at::Tensor ids = ref.input_ids[i].slice(0, 0, length).unsqueeze(0);
    const at::Tensor logits = model->forward(ids)[0];
    const double diff = max_abs_diff(logits, ref.logits[i].slice(0, 0, length));
    EXPECT_LE(diff, kFp32Tolerance) << GetParam() << " sequence " << i;
  }
}

TEST_P(FamilyParity, PaddedBatchMatchesOneAtATime) {
  const auto ref = read_reference(GetParam());
  auto model = load_pretrained(fixture(GetParam()), {at::kFloat, test_device()});
  const at::Tensor logits = model->forward(ref.input_ids, ref.attention_mask).to(at::kCPU);
  for (int64_t i = 0; i < ref.input_ids.size(0); ++i) {
    const int64_t length = ref.attention_mask[i].sum().item<int64_t>();
    EXPECT_LE(max_abs_diff(logits[i].slice(0, 0, length), ref.logits[i].slice(0, 0, length)),
              kFp32Tolerance)
        << GetParam() << " sequence " << i;
    EXPECT_LE(max_abs_diff(logits[i].slice(0, 0, length),
                           ref.batched_logits[i].slice(0, 0, length)),
              kFp32Tolerance)
        << GetParam() << " sequence " << i << " vs transformers' own padded batch";
  }
}

TEST_P(FamilyParity, Bf16StaysCloseToFp32Reference) {
  const auto ref = read_reference(GetParam());
  auto model = load_pretrained(fixture(GetParam()), {at::kBFloat16, test_device()});
  const at::Tensor logits = model->forward(ref.input_ids, ref.attention_mask);
  EXPECT_EQ(logits.scalar_type(), at::kBFloat16);
  const int64_t length = ref.attention_mask[0].sum().item<int64_t>();
  const at::Tensor expected = ref.logits[0].slice(0, 0, length);
  const double scale = expected.abs().max().item<double>();
  EXPECT_LE(max_abs_diff(logits[0].slice(0, 0, length), expected), kBf16RelativeTolerance * scale);
}

TEST_P(FamilyParity, SavedModelLoadsBackIdentically) {
  auto model = load_pretrained(fixture(GetParam()), {at::kFloat, test_device()});
  const auto ref = read_reference(GetParam());
  model->enable_quantization(QuantScope::kFfn, QuantizerConfig{});
  for (auto& [name, layer, linear] : model->quantized_linears()) linear->freeze_codes();
  model->set_precision(matquant::quant::PrecisionPlan::uniform(4));
  const at::Tensor quantized = model->forward(ref.input_ids, ref.attention_mask);
  const std::string out = (boost::filesystem::temp_directory_path() /
                           ("matquant_saved_" + GetParam())).string();
  save_pretrained(model, out);
  auto reloaded = load_pretrained(out, {at::kFloat, test_device()});
  EXPECT_LE(max_abs_diff(reloaded->forward(ref.input_ids, ref.attention_mask), quantized), 1e-6);
  boost::filesystem::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyParity,
                         ::testing::Values("llama", "mistral", "qwen2", "gemma2"),
                         [](const auto& info) { return info.param; });

}  // namespace
