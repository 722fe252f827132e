// The r-bit slice applied straight from the bit planes (quant::bit_plane_linear and
// dequantize_bit_planes). The reference is NestedCodes::dequantize, the weight every fake-quant
// evaluation uses: on CPU (and in CI) the planes' dequantized slice must equal it value for value;
// on CUDA the dequantize kernel must equal it bit for bit, and the decode matmul kernel must equal
// x w_r^T computed in fp32 up to its bf16 output rounding, and the bf16 fake-quant matmul within
// bf16 rounding. Codes are uniform over all 2^c values (so every clamp and extra bucket occurs), and
// the planes a slice must not read hold noise.
#include "quant/bit_planes.h"

#include "common/error.h"
#include "test_device.h"

#include <gtest/gtest.h>

using namespace matquant::quant;

namespace {

NestedCodes random_codes(int64_t rows, int64_t columns, int bits, int64_t group_size, const at::Device& device) {
  const int64_t groups = group_size > 0 ? (columns + group_size - 1) / group_size : 1;
  NestedCodes codes;
  codes.codes = at::randint(0, int64_t(1) << bits, {rows, columns}, at::kLong).to(at::kByte);
  codes.scale = at::rand({rows, groups}) * 0.02 + 0.001;
  codes.zero_point = at::randint(0, int64_t(1) << bits, {rows, groups}, at::kLong).to(at::kFloat);
  codes.bits = bits;
  codes.group_size = group_size;
  return codes.to(device);
}

// Planes of `codes` with noise in every plane the r-bit slice must not read.
BitPlanes planes_with_noise(const NestedCodes& codes, int to_bits) {
  BitPlanes planes = pack_bit_planes(codes);
  for (int k = planes.planes_for(to_bits); k < planes.bits; ++k) planes.plane(k).random_();
  return planes;
}

const char* name(SliceMode mode) { return mode == SliceMode::kClamped ? "Eq. 6" : "Eq. 8"; }

}  // namespace

TEST(BitPlaneLinear, DequantizedSliceEqualsTheNestedCodesWeight) {
  const at::Device device = matquant::testing::test_device();
  for (int c : {8, 6}) {
    for (int64_t group : {int64_t(0), int64_t(128)}) {
      const NestedCodes codes = random_codes(24, 384, c, group, device);
      for (auto mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
        for (int r = 1; r <= c; ++r) {
          const BitPlanes planes = planes_with_noise(codes, r);
          for (auto dtype : {at::kFloat, at::kBFloat16}) {
            EXPECT_TRUE(at::equal(dequantize_bit_planes(planes, r, mode, dtype), codes.dequantize(r, mode, dtype)))
                << "c " << c << " r " << r << " group " << group << " " << name(mode) << " " << dtype;
          }
        }
      }
    }
  }
}

TEST(BitPlaneLinear, PrefillPathIsTheLinearOfTheDequantizedSlice) {
  const at::Device device = matquant::testing::test_device();
  const NestedCodes codes = random_codes(40, 256, 8, 128, device);
  const at::Tensor x = at::randn({3, 7, 256}).to(device);  // 21 rows: past the decode kernel's 16
  const at::Tensor bias = at::randn({40}).to(device);
  for (int r : {2, 4, 8}) {
    const at::Tensor w = codes.dequantize(r, SliceMode::kClamped, at::kFloat);
    const at::Tensor ours = bit_plane_linear(planes_with_noise(codes, r), x, r, SliceMode::kClamped, bias);
    EXPECT_EQ(ours.sizes(), (std::vector<int64_t>{3, 7, 40}));
    EXPECT_TRUE(at::allclose(ours, at::linear(x, w, bias), 1e-5, 1e-5)) << "r " << r;
  }
}

// The decode kernel (CUDA only): every r, both equations, per-channel and grouped scales, batch
// 1..16 (batch 1 staged per block, larger batches prepared once), rows not a multiple of 16,
// columns not a multiple of 32, and more columns than one shared-memory chunk holds at batch 1.
TEST(BitPlaneLinear, DecodeKernelMatchesFp32AndTheFakeQuantPath) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the bit-plane kernels run on CUDA";
  struct Shape {
    int64_t rows, columns;
    std::vector<int64_t> groups;  // group sizes that divide the columns
  };
  int checked = 0;
  for (const Shape& shape : {Shape{40, 1000, {0}}, Shape{48, 1152, {0, 128}}, Shape{64, 4352, {0, 128, 256}},
                             Shape{24, 33024, {0}}}) {  // the last: batch 1 stages two chunks
    for (int c : {8, 6}) {
      for (int64_t group : shape.groups) {
        const NestedCodes codes = random_codes(shape.rows, shape.columns, c, group, device);
        for (auto mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
          for (int r = 1; r <= c; ++r) {
            const BitPlanes planes = planes_with_noise(codes, r);
            const at::Tensor w = codes.dequantize(r, mode, at::kFloat);
            const at::Tensor w_bf16 = codes.dequantize(r, mode, at::kBFloat16);
            for (int64_t batch : {1, 5, 16}) {
              const at::Tensor x = at::randn({batch, shape.columns}, at::TensorOptions(device)).to(at::kBFloat16);
              const at::Tensor bias = batch == 5 ? at::randn({shape.rows}, at::TensorOptions(device)).to(at::kBFloat16)
                                                 : at::Tensor();
              const at::Tensor ours = bit_plane_linear(planes, x, r, mode, bias).to(at::kFloat);
              const at::Tensor xf = x.to(at::kFloat);
              at::Tensor exact = at::matmul(xf, w.t());
              if (bias.defined()) exact = exact + bias.to(at::kFloat);
              const at::Tensor magnitude = at::matmul(xf.abs(), w.abs().t());
              // Output rounding to bf16 (2^-9 relative) plus fp32 summation of the offset levels.
              const at::Tensor to_exact = (ours - exact).abs() - (exact.abs() * (1.0 / 256) + magnitude * 1e-4);
              EXPECT_LE(to_exact.max().item<double>(), 0.0)
                  << "c " << c << " r " << r << " " << name(mode) << " group " << group << " batch " << batch
                  << " columns " << shape.columns;
              // The fake-quant path rounds the weight to bf16 first: within bf16 rounding of it.
              const at::Tensor fake = at::linear(x, w_bf16, bias).to(at::kFloat);
              const at::Tensor to_fake = (ours - fake).abs() - (exact.abs() * (2.0 / 256) + magnitude * (1.0 / 256));
              EXPECT_LE(to_fake.max().item<double>(), 0.0) << "c " << c << " r " << r << " batch " << batch;
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, (1 + 2 + 3 + 1) * 2 * (8 + 6) * 3);
}

TEST(BitPlaneLinear, DecodeKernelRefusesGroupsItCannotFold) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the bit-plane kernels run on CUDA";
  // Groups of 64 take the dequantized path instead (same function), not a wrong kernel result.
  const NestedCodes codes = random_codes(32, 256, 8, 64, device);
  const at::Tensor x = at::randn({1, 256}, at::TensorOptions(device)).to(at::kBFloat16);
  const at::Tensor ours = bit_plane_linear(pack_bit_planes(codes), x, 4, SliceMode::kClamped);
  const at::Tensor fake = at::linear(x, codes.dequantize(4, SliceMode::kClamped, at::kBFloat16));
  EXPECT_TRUE(at::equal(ours, fake));
}

TEST(BitPlaneLinear, RefusesInputOfTheWrongWidth) {
  const NestedCodes codes = random_codes(8, 64, 8, 0, at::kCPU);
  const BitPlanes planes = pack_bit_planes(codes);
  try {
    bit_plane_linear(planes, at::randn({2, 63}), 4, SliceMode::kClamped);
    FAIL() << "a 63-feature input was accepted by a 64-column weight";
  } catch (const matquant::Error& error) {
    EXPECT_EQ(error.code(), matquant::ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(error.what()).find("63"), std::string::npos) << error.what();
  }
}
