#include "model/decoder.h"
#include "model/quantized_linear.h"

#include "common/error.h"
#include "test_device.h"

#include <gtest/gtest.h>

using namespace matquant::model;
using matquant::testing::float_options;
using matquant::testing::test_device;

namespace {

QuantizedLinear make_linear(int64_t in, int64_t out) {
  QuantizedLinear linear(in, out, /*bias=*/true);
  linear->to(test_device());
  at::manual_seed(5);
  linear->weight.set_data(at::randn({out, in}, float_options()) * 0.1);
  linear->bias.set_data(at::randn({out}, float_options()));
  return linear;
}

int64_t max_distinct_per_row(const at::Tensor& w) {
  int64_t most = 0;
  for (int64_t row = 0; row < w.size(0); ++row) {
    most = std::max<int64_t>(most, std::get<0>(at::_unique(w[row])).numel());
  }
  return most;
}

}  // namespace

TEST(QuantizedLinear, FullPrecisionUntilAPrecisionIsSelected) {
  QuantizedLinear linear = make_linear(32, 8);
  const at::Tensor x = at::randn({3, 32}, float_options());
  const at::Tensor reference = at::linear(x, linear->weight, linear->bias);
  linear->enable_quantizer(QuantizerConfig{});
  EXPECT_TRUE(at::equal(linear->forward(x), reference));
  linear->set_precision(2);
  EXPECT_FALSE(at::allclose(linear->forward(x), reference));
}

TEST(QuantizedLinear, SwitchingPrecisionServesEachSlice) {
  QuantizedLinear linear = make_linear(64, 16);
  linear->enable_quantizer(QuantizerConfig{8, 0, false});
  for (int r : {8, 4, 2}) {
    linear->set_precision(r);
    EXPECT_LE(max_distinct_per_row(linear->effective_weight().detach()), int64_t{1} << r) << r;
  }
  // Frozen codes serve exactly what fake quantization served.
  linear->set_precision(4);
  const at::Tensor fake = linear->effective_weight().detach().clone();
  linear->freeze_codes();
  EXPECT_TRUE(at::allclose(linear->effective_weight(), fake, 0, 1e-6));
}

TEST(QuantizedLinear, GradientsReachWeightAndClipping) {
  QuantizedLinear linear = make_linear(32, 8);
  linear->enable_quantizer(QuantizerConfig{8, 16, true});
  linear->set_precision(2);
  linear->forward(at::randn({4, 32}, float_options())).pow(2).sum().backward();
  ASSERT_TRUE(linear->weight.grad().defined());
  EXPECT_GT(linear->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(linear->clipping->upper_logit.grad().abs().sum().item<double>(), 0.0);
}

TEST(QuantizedLinear, RejectsPrecisionAboveStoredBits) {
  QuantizedLinear linear = make_linear(8, 4);
  linear->enable_quantizer(QuantizerConfig{4, 0, false});
  EXPECT_THROW(linear->set_precision(8), matquant::Error);
}

TEST(QuantScope, ParsesBothScopesAndRejectsOthers) {
  EXPECT_EQ(parse_quant_scope("ffn"), QuantScope::kFfn);
  EXPECT_EQ(parse_quant_scope("ffn+attn"), QuantScope::kFfnAndAttention);
  EXPECT_THROW(parse_quant_scope("attn"), matquant::Error);
}
