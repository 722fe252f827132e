#include "quant/learnable_clipping.h"

#include "quant/fake_quant.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace matquant::quant;
using matquant::testing::float_options;
using matquant::testing::test_device;

TEST(LearnableClipping, StartsAtSigmoidOfFour) {
  LearnableClipping clip(3, 2);
  EXPECT_EQ(clip->upper_logit.sizes(), (at::IntArrayRef{3, 2, 1}));
  EXPECT_NEAR(clip->gamma()[0][0][0].item<double>(), 1.0 / (1.0 + std::exp(-4.0)), 1e-7);
  EXPECT_EQ(clip->parameters().size(), 2u);
}

// Eq. 3 by hand for one row [-1, 0, 0.5, 2] at c = 2 with a = b = 4.
TEST(LearnableClipping, ParametersFollowEquationThree) {
  LearnableClipping clip(1, 1);
  clip->to(test_device());
  const at::Tensor w = at::tensor({-1.0f, 0.0f, 0.5f, 2.0f}, float_options()).reshape({1, 1, 4});
  const AffineParams p = clip->params(w, 2);
  const double s = 1.0 / (1.0 + std::exp(-4.0));
  const double scale = (s * 2.0 - s * -1.0) / 3.0;
  EXPECT_NEAR(p.scale.item<double>(), scale, 1e-6);
  EXPECT_DOUBLE_EQ(p.zero_point.item<double>(), std::round(s / scale));
}

// d(sum of dequantized weights)/d(a, b), with round straight-through and zero held, is
// d/dscale [sum_i (clamp(round(w_i/s)+z) - z) * s] * dscale/d(a, b). Inside the clamp range the
// per-element derivative w.r.t. the scale is round(w/s) - w/s; clamped elements give q - z.
TEST(LearnableClipping, GradientsReachBothLogitsAndMatchTheChainRule) {
  LearnableClipping clip(1, 1);
  clip->to(test_device());
  const auto dopt = float_options().dtype(at::kDouble);
  clip->to(at::kDouble);
  const at::Tensor w = at::tensor({-1.0, -0.3, 0.2, 0.7, 2.0}, dopt).reshape({1, 5});
  const AffineParams p = clip->params(to_groups(w, 0), 4);
  at::Tensor out = fake_quantize(w, p, FakeQuantSpec{4, 4, SliceMode::kClamped, 0});
  out.sum().backward();
  const at::Tensor ga = clip->upper_logit.grad();
  const at::Tensor gb = clip->lower_logit.grad();
  ASSERT_TRUE(ga.defined());
  ASSERT_TRUE(gb.defined());

  const double s = p.scale.item<double>();
  const double z = p.zero_point.item<double>();
  double d_scale = 0.0;
  for (double wi : {-1.0, -0.3, 0.2, 0.7, 2.0}) {
    const double raw = std::nearbyint(wi / s) + z;
    if (raw < 0.0) d_scale += 0.0 - z;
    else if (raw > 15.0) d_scale += 15.0 - z;
    else d_scale += std::nearbyint(wi / s) - wi / s;
  }
  const double sig = 1.0 / (1.0 + std::exp(-4.0));
  const double dsig = sig * (1.0 - sig);
  // scale = (gamma * 2 - beta * (-1)) / 15
  EXPECT_NEAR(ga.item<double>(), d_scale * dsig * 2.0 / 15.0, 1e-9);
  EXPECT_NEAR(gb.item<double>(), d_scale * dsig * 1.0 / 15.0, 1e-9);
  EXPECT_NE(ga.item<double>(), 0.0);
}
