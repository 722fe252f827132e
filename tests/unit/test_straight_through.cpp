// Straight-through estimators: forward values are the rounded ones, gradients pass unchanged.
#include "quant/fake_quant.h"

#include "test_device.h"

#include <gtest/gtest.h>

using namespace matquant::quant;
using matquant::testing::float_options;

TEST(StraightThrough, RoundPassesGradientUnchanged) {
  at::Tensor x = at::tensor({0.2f, 1.7f, -2.5f}, float_options()).requires_grad_(true);
  at::Tensor y = round_ste(x);
  EXPECT_TRUE(at::equal(y.detach().cpu(), at::tensor({0.0f, 2.0f, -2.0f})));
  (y * at::tensor({1.0f, 2.0f, 3.0f}, float_options())).sum().backward();
  EXPECT_TRUE(at::equal(x.grad().cpu(), at::tensor({1.0f, 2.0f, 3.0f})));
}

TEST(StraightThrough, SlicePassesGradientUnchanged) {
  at::Tensor q = at::tensor({53.0f, 234.0f, 240.0f}, float_options()).requires_grad_(true);
  at::Tensor s = slice_codes_ste(q, 8, 2, SliceMode::kClamped);
  EXPECT_TRUE(at::equal(s.detach().cpu(), at::tensor({64.0f, 192.0f, 192.0f})));
  s.sum().backward();
  EXPECT_TRUE(at::equal(q.grad().cpu(), at::ones({3})));
}

// Through the whole fake-quantization path the gradient w.r.t. a weight inside the clamp range is
// exactly 1 (round and slice are straight-through; scale and zero point are held fixed here).
TEST(StraightThrough, FakeQuantizeGradientIsIdentityInsideRange) {
  at::manual_seed(0);
  at::Tensor w = (at::randn({4, 32}, float_options()) * 0.1).requires_grad_(true);
  const AffineParams p = minmax_params(to_groups(w.detach(), 0), 8);
  const at::Tensor out = fake_quantize(w, p, FakeQuantSpec{8, 2, SliceMode::kClamped, 0});
  out.sum().backward();
  // The row minimum and maximum map to codes 0 and 255 and stay inside the clamp; all others too.
  EXPECT_TRUE(at::allclose(w.grad(), at::ones_like(w)));
  // Forward values are the dequantized int2 slice: at most 4 distinct values per row.
  for (int64_t row = 0; row < 4; ++row) {
    EXPECT_LE(std::get<0>(at::_unique(out[row].detach())).numel(), 4);
  }
}

TEST(StraightThrough, AutogradAgreesWithHandDerivative) {
  // y = sum(c_i * round_ste(x_i * k)): dy/dx_i = c_i * k.
  at::Tensor x = at::tensor({0.3f, 0.9f}, float_options().dtype(at::kDouble)).requires_grad_(true);
  const double k = 7.0;
  const at::Tensor c = at::tensor({2.0, -1.0}, float_options().dtype(at::kDouble));
  (c * round_ste(x * k)).sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), c * k));
}
