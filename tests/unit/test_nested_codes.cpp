#include "quant/nested_codes.h"

#include "common/error.h"
#include "test_device.h"

#include <gtest/gtest.h>

using namespace matquant::quant;
using matquant::testing::float_options;

TEST(NestedCodes, StoresUint8CodesAndFloatParameters) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({8, 64}, float_options());
  const NestedCodes codes = NestedCodes::quantize(w, 8, 16);
  EXPECT_EQ(codes.codes.scalar_type(), at::kByte);
  EXPECT_EQ(codes.codes.sizes(), (at::IntArrayRef{8, 64}));
  EXPECT_EQ(codes.scale.sizes(), (at::IntArrayRef{8, 4}));
  EXPECT_EQ(codes.zero_point.sizes(), (at::IntArrayRef{8, 4}));
  EXPECT_EQ(codes.codes.device(), w.device());
}

// Every r-bit model is the dequantized slice of the same codes: check one entry by hand.
TEST(NestedCodes, DequantizedSliceEqualsHandComputation) {
  // Row [0, 2.55] ramp: scale 0.01, zero 0, codes 0..255.
  const at::Tensor w = at::arange(256, float_options()).reshape({1, 256}) * 0.01;
  const NestedCodes codes = NestedCodes::quantize(w, 8, 0);
  const at::Tensor w2 = codes.dequantize(2).cpu();
  EXPECT_NEAR(w2[0][234].item<float>(), 1.92f, 1e-5);  // code 234 -> 192 -> 1.92
  EXPECT_NEAR(w2[0][53].item<float>(), 0.64f, 1e-5);   // code 53 -> 64 -> 0.64
  const at::Tensor w2ep = codes.dequantize(2, SliceMode::kExtraPrecision).cpu();
  EXPECT_NEAR(w2ep[0][234].item<float>(), 2.56f, 1e-5);  // extra bucket 256 -> 2.56
  EXPECT_EQ(std::get<0>(at::_unique(codes.dequantize(2))).numel(), 4);
  EXPECT_EQ(std::get<0>(at::_unique(codes.dequantize(4))).numel(), 16);
  EXPECT_EQ(std::get<0>(at::_unique(codes.dequantize(2, SliceMode::kExtraPrecision))).numel(), 5);
  EXPECT_TRUE(at::allclose(codes.dequantize(8), w, 0, 1e-5));
}

TEST(NestedCodes, SlicedCodesAreNestedAcrossWidths) {
  at::manual_seed(2);
  const NestedCodes codes = NestedCodes::quantize(at::randn({16, 32}, float_options()), 8, 0);
  // int2 of int8 equals int2 of the int4 slice (both keep the same MSBs) wherever the int4 slice
  // did not round up across an int2 bucket boundary; at minimum every int2 code is an int4 code.
  const at::Tensor s4 = codes.sliced_codes(4);
  const at::Tensor s2 = codes.sliced_codes(2);
  EXPECT_TRUE((s2.remainder(64) == 0).all().item<bool>());
  EXPECT_TRUE((s4.remainder(16) == 0).all().item<bool>());
  EXPECT_TRUE((s2 - codes.codes.to(at::kShort)).abs().le(32).logical_or(s2.eq(192)).all().item<bool>());
}

TEST(NestedCodes, DequantizesOnAnotherDeviceAndDtype) {
  const at::Tensor w = at::randn({4, 8}, float_options());
  const NestedCodes codes = NestedCodes::quantize(w, 8, 0).to(at::Device(at::kCPU));
  const at::Tensor bf = codes.dequantize(4, SliceMode::kClamped, at::kBFloat16);
  EXPECT_EQ(bf.scalar_type(), at::kBFloat16);
  EXPECT_EQ(bf.device().type(), at::kCPU);
}

TEST(NestedCodes, RejectsMoreThanEightBits) {
  EXPECT_THROW(NestedCodes::quantize(at::zeros({2, 2}, float_options()), 9, 0), matquant::Error);
}
