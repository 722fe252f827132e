#include "quant/minmax.h"

#include "common/error.h"
#include "test_device.h"

#include <gtest/gtest.h>

using namespace matquant::quant;
using matquant::testing::float_options;

namespace {

std::vector<float> values(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).to(at::kFloat).contiguous().reshape({-1});
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

// Eq. 1 by hand: w in [-1, 2], c = 2: alpha = 3/3 = 1, z = round(1/1) = 1.
TEST(MinMax, PerChannelParametersAndCodesByHand) {
  const at::Tensor w = at::tensor({-1.0f, -0.4f, 0.6f, 2.0f}, float_options()).reshape({1, 4});
  const at::Tensor grouped = to_groups(w, 0);
  const AffineParams p = minmax_params(grouped, 2);
  EXPECT_FLOAT_EQ(values(p.scale)[0], 1.0f);
  EXPECT_FLOAT_EQ(values(p.zero_point)[0], 1.0f);
  // q = clamp(round(w/1) + 1, 0, 3): -1 -> 0, -0.4 -> 1, 0.6 -> 2, 2 -> 3
  EXPECT_EQ(values(quantize_codes(grouped, p, 2)), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(values(dequantize_codes(quantize_codes(grouped, p, 2), p)),
            (std::vector<float>{-1, 0, 1, 2}));
}

// int8 of [0, 2.55]: alpha = 0.01, z = 0; every multiple of 0.01 is exact.
TEST(MinMax, Int8CodesOfARamp) {
  const at::Tensor w = at::arange(256, float_options()).reshape({1, 256}) * 0.01;
  const at::Tensor grouped = to_groups(w, 0);
  const AffineParams p = minmax_params(grouped, 8);
  EXPECT_NEAR(values(p.scale)[0], 0.01f, 1e-7);
  EXPECT_FLOAT_EQ(values(p.zero_point)[0], 0.0f);
  const auto codes = values(quantize_codes(grouped, p, 8));
  for (int i = 0; i < 256; ++i) ASSERT_FLOAT_EQ(codes[i], float(i)) << i;
}

TEST(MinMax, GroupsHaveTheirOwnRange) {
  // Two groups of 2 columns: [0, 3] and [-6, 0]; c = 2 -> scales 1 and 2, zeros 0 and 3.
  const at::Tensor w = at::tensor({0.0f, 3.0f, -6.0f, 0.0f}, float_options()).reshape({1, 4});
  const at::Tensor grouped = to_groups(w, 2);
  ASSERT_EQ(grouped.sizes(), (at::IntArrayRef{1, 2, 2}));
  const AffineParams p = minmax_params(grouped, 2);
  EXPECT_EQ(values(p.scale), (std::vector<float>{1, 2}));
  EXPECT_EQ(values(p.zero_point), (std::vector<float>{0, 3}));
  EXPECT_EQ(values(quantize_codes(grouped, p, 2)), (std::vector<float>{0, 3, 0, 3}));
}

TEST(MinMax, PerChannelRowsAreIndependent) {
  const at::Tensor w = at::tensor({0.0f, 1.0f, 0.0f, 10.0f}, float_options()).reshape({2, 2});
  const AffineParams p = minmax_params(to_groups(w, 0), 1);
  EXPECT_EQ(values(p.scale), (std::vector<float>{1, 10}));
}

TEST(MinMax, RoundTripErrorIsAtMostHalfAStep) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({16, 64}, float_options());
  for (int64_t group : {0, 16}) {
    const at::Tensor grouped = to_groups(w, group);
    const AffineParams p = minmax_params(grouped, 4);
    const at::Tensor error = (dequantize_codes(quantize_codes(grouped, p, 4), p) - grouped).abs();
    // One extra half step: the zero point is rounded, shifting the grid by up to half a step.
    EXPECT_TRUE((error <= p.scale * 1.0 + 1e-6).all().item<bool>()) << "group " << group;
  }
}

TEST(MinMax, BadGroupSizeIsAnInputError) {
  const at::Tensor w = at::zeros({2, 10}, float_options());
  EXPECT_THROW(to_groups(w, 4), matquant::Error);
  EXPECT_THROW(to_groups(w, -1), matquant::Error);
  EXPECT_THROW(to_groups(at::zeros({10}, float_options()), 0), matquant::Error);
}

TEST(MinMax, ConstantRowUsesTheMinimumScale) {
  const at::Tensor w = at::full({1, 8}, 0.5f, float_options());
  const AffineParams p = minmax_params(to_groups(w, 0), 8);
  EXPECT_FLOAT_EQ(values(p.scale)[0], float(kMinScale));
  EXPECT_TRUE(at::isfinite(p.zero_point).all().item<bool>());
}
