// Slice packs (quant/slice_pack.h): the r-bit slice's levels at 2, 4 or 8 bits in MMA fragment order.
// Format: for every code of c = 8, 6 and 4, every r and both equations, the stored levels equal
// lib/quant's slicing (NestedCodes::sliced_codes / 2^(c-r)), and a slice reads its width in bits
// per weight. Values: the dequantized pack equals NestedCodes::dequantize (on CPU through ATen, on
// CUDA through the dequantize kernel, bit for bit). Kernel (CUDA only): the decode matmul equals
// x w_r^T in fp32 up to its bf16 output rounding, and the bf16 fake-quant matmul within bf16 rounding,
// launched alone or chained to the kernel before it.
#include "quant/slice_pack.h"

#include "common/error.h"
#include "kernels/slice_pack_ops.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <limits>

using namespace matquant::quant;

namespace {

// Codes that hold every value of 0 .. 2^c - 1 (a shuffled ramp), with random scales and zero points.
NestedCodes every_code(int64_t rows, int64_t columns, int bits, int64_t group_size, const at::Device& device) {
  const int64_t groups = group_size > 0 ? (columns + group_size - 1) / group_size : 1;
  NestedCodes codes;
  const at::Tensor ramp = at::remainder(at::arange(rows * columns, at::kLong), int64_t(1) << bits);
  codes.codes = ramp.index_select(0, at::randperm(rows * columns, at::kLong)).view({rows, columns}).to(at::kByte);
  codes.scale = at::rand({rows, groups}) * 0.02 + 0.001;
  codes.zero_point = at::randint(0, int64_t(1) << bits, {rows, groups}, at::kLong).to(at::kFloat);
  codes.bits = bits;
  codes.group_size = group_size;
  return codes.to(device);
}

const char* name(SliceMode mode) { return mode == SliceMode::kClamped ? "Eq. 6" : "Eq. 8"; }

// Sets the slice-pack launch mode for a scope and restores the previous one.
struct LaunchMode {
  bool chained_before = matquant::kernels::slice_pack_chained_launch();
  int row_tiles_before = matquant::kernels::slice_pack_row_tiles();
  int integer_before = matquant::kernels::slice_pack_integer_mma();
  LaunchMode(bool chained, int row_tiles, bool integer_mma = false) {
    matquant::kernels::set_slice_pack_chained_launch(chained);
    matquant::kernels::set_slice_pack_row_tiles(row_tiles);
    matquant::kernels::set_slice_pack_integer_mma(integer_mma ? 1 : 0);
  }
  ~LaunchMode() {
    matquant::kernels::set_slice_pack_chained_launch(chained_before);
    matquant::kernels::set_slice_pack_row_tiles(row_tiles_before);
    matquant::kernels::set_slice_pack_integer_mma(integer_before);
  }
};

}  // namespace

TEST(SlicePack, WidthIsTheSmallestThatHoldsTheTopLevel) {
  EXPECT_EQ(slice_pack_width(8, 2, SliceMode::kClamped), 2);
  EXPECT_EQ(slice_pack_width(8, 1, SliceMode::kClamped), 2);
  EXPECT_EQ(slice_pack_width(8, 3, SliceMode::kClamped), 4);
  EXPECT_EQ(slice_pack_width(8, 4, SliceMode::kClamped), 4);
  EXPECT_EQ(slice_pack_width(8, 6, SliceMode::kClamped), 8);
  EXPECT_EQ(slice_pack_width(8, 8, SliceMode::kClamped), 8);
  EXPECT_EQ(slice_pack_width(8, 2, SliceMode::kExtraPrecision), 4);  // levels 0..4
  EXPECT_EQ(slice_pack_width(8, 4, SliceMode::kExtraPrecision), 8);  // levels 0..16
  EXPECT_EQ(slice_pack_width(8, 8, SliceMode::kExtraPrecision), 8);  // r = c: the codes themselves
}

TEST(SlicePack, StoredLevelsAreTheSlicesOfEveryCode) {
  const at::Device device = matquant::testing::test_device();
  for (int c : {8, 6, 4}) {
    // 37 rows and 300 columns: a partial row tile and a partial chunk; 11,100 codes hold every value.
    const NestedCodes codes = every_code(37, 300, c, 0, device);
    for (auto mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
      for (int r = 1; r <= c; ++r) {
        const SlicePack pack = pack_slice(codes, r, mode);
        const at::Tensor expected = at::bitwise_right_shift(codes.sliced_codes(r, mode).to(at::kLong), c - r);
        EXPECT_TRUE(at::equal(slice_pack_levels(pack), expected)) << "c " << c << " r " << r << " " << name(mode);
        EXPECT_EQ(pack.level_bytes(), pack.row_tiles() * 16 * pack.chunks() * 128 * pack.width / 8);
        EXPECT_EQ(pack.words.sizes(), (std::vector<int64_t>{3, 3, pack.width / 2, 32, 4}));
      }
    }
  }
}

// The layout as quant/slice_pack.h writes it down, independently of the packing code: one nonzero
// level at a known row and column must land in the documented word and bit field.
TEST(SlicePack, OneLevelLandsWhereTheHeaderSaysItDoes) {
  struct Case {
    int to_bits;  // width 2 (r = 2), 4 (r = 4) or 8 (r = 8); c = 8, Eq. 6
    int width;
  };
  for (const Case& c : {Case{2, 2}, Case{4, 4}, Case{8, 8}}) {
    for (const auto& [row, column] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {27, 183}, {9, 255}, {30, 130}}) {
      NestedCodes codes;
      codes.codes = at::zeros({32, 256}, at::kByte);
      const int64_t level = (int64_t(1) << c.to_bits) - 1;  // all ones: every bit of the field set
      codes.codes[row][column] = uint8_t(level << (8 - c.to_bits));
      codes.scale = at::ones({32, 1});
      codes.zero_point = at::zeros({32, 1});
      codes.bits = 8;
      const SlicePack pack = pack_slice(codes, c.to_bits, SliceMode::kClamped);
      ASSERT_EQ(pack.width, c.width);
      // Row 16 T + 8 h + g, column 128 C + 32 t + 4 s + q; register i = h + 2 (q / 2), half e = q % 2.
      const int64_t tile = row / 16, h = row % 16 / 8, g = row % 8, chunk = column / 128, t = column % 128 / 32;
      const int64_t s = column % 32 / 4, q = column % 4, i = h + 2 * (q / 2), e = q % 2, lane = 4 * g + t;
      std::vector<std::pair<int64_t, int64_t>> fields;  // (word k, bit offset) holding the level
      if (c.width == 2) fields = {{s / 2, 2 * (4 * (s % 2) + i) + 16 * e}};
      if (c.width == 4) fields = {{s, 4 * i + 16 * e}};
      if (c.width == 8) fields = {{2 * s, 4 * i + 16 * e}, {2 * s + 1, 4 * i + 16 * e}};  // high, low nibble
      const at::Tensor words = pack.words.to(at::kLong).bitwise_and(int64_t(0xFFFFFFFF));
      int64_t nonzero_words = 0;
      for (const auto& [k, offset] : fields) {
        const int64_t word = words[tile][chunk][k / 4][lane][k % 4].item<int64_t>();
        const int64_t field = c.width == 2 ? 3 : 15;
        EXPECT_EQ(word, field << offset) << "width " << c.width << " row " << row << " column " << column;
        ++nonzero_words;
      }
      EXPECT_EQ(words.ne(0).sum().item<int64_t>(), nonzero_words) << "width " << c.width << " row " << row;
    }
  }
}

TEST(SlicePack, DequantizedPackEqualsTheNestedCodesWeight) {
  const at::Device device = matquant::testing::test_device();
  for (int64_t group : {int64_t(0), int64_t(128), int64_t(64)}) {
    const NestedCodes codes = every_code(24, 384, 8, group, device);
    for (auto mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
      for (int r = 1; r <= 8; ++r) {
        const SlicePack pack = pack_slice(codes, r, mode);
        for (auto dtype : {at::kFloat, at::kBFloat16}) {
          EXPECT_TRUE(at::equal(dequantize_slice_pack(pack, dtype), codes.dequantize(r, mode, dtype)))
              << "r " << r << " group " << group << " " << name(mode) << " " << dtype;
        }
      }
    }
  }
}

TEST(SlicePack, PrefillPathIsTheLinearOfTheDequantizedSlice) {
  const at::Device device = matquant::testing::test_device();
  const NestedCodes codes = every_code(40, 256, 8, 128, device);
  const at::Tensor x = at::randn({3, 7, 256}).to(device);  // 21 rows: past the decode kernel's 16
  const at::Tensor bias = at::randn({40}).to(device);
  for (int r : {2, 4, 8}) {
    const at::Tensor ours = slice_pack_linear(pack_slice(codes, r, SliceMode::kClamped), x, bias);
    EXPECT_EQ(ours.sizes(), (std::vector<int64_t>{3, 7, 40}));
    EXPECT_TRUE(at::allclose(ours, at::linear(x, codes.dequantize(r, SliceMode::kClamped, at::kFloat), bias), 1e-5, 1e-5))
        << "r " << r;
  }
}

// Packs stacked by rows give their members' weights side by side (every row bit for bit, the last
// member with a partial tile), and their outputs from one call (on CUDA through the decode kernel,
// whose rows do not depend on their neighbours: bit for bit); packs that cannot share a call are
// refused.
TEST(SlicePack, StackedPacksGiveTheirMembersOutputsSideBySide) {
  const at::Device device = matquant::testing::test_device();
  for (int64_t group : {int64_t(0), int64_t(128)}) {
    const NestedCodes q = every_code(32, 384, 8, group, device), k = every_code(16, 384, 8, group, device),
                      v = every_code(20, 384, 8, group, device);
    for (int r : {2, 4, 8}) {
      const SlicePack pq = pack_slice(q, r, SliceMode::kClamped), pk = pack_slice(k, r, SliceMode::kClamped),
                      pv = pack_slice(v, r, SliceMode::kClamped);
      const std::optional<SlicePack> stacked = stack_slice_packs({&pq, &pk, &pv});
      ASSERT_TRUE(stacked.has_value()) << "r " << r;
      EXPECT_EQ(stacked->rows, 68);
      EXPECT_EQ(stacked->level_bytes(), pq.level_bytes() + pk.level_bytes() + pv.level_bytes());
      EXPECT_TRUE(at::equal(dequantize_slice_pack(*stacked, at::kFloat),
                            at::cat({dequantize_slice_pack(pq, at::kFloat), dequantize_slice_pack(pk, at::kFloat),
                                     dequantize_slice_pack(pv, at::kFloat)}, 0)))
          << "r " << r << " group " << group;
      const at::Tensor x = at::randn({1, 384}).to(device).to(device.is_cuda() ? at::kBFloat16 : at::kFloat);
      const at::Tensor together = slice_pack_linear(*stacked, x);
      const at::Tensor apart = at::cat({slice_pack_linear(pq, x), slice_pack_linear(pk, x), slice_pack_linear(pv, x)}, -1);
      if (device.is_cuda()) {
        EXPECT_TRUE(at::equal(together, apart)) << "r " << r << " group " << group;
      } else {
        EXPECT_TRUE(at::allclose(together, apart, 1e-5, 1e-6)) << "r " << r << " group " << group;
      }
      // A partial tile in the middle, another slice or another input width cannot share a call.
      EXPECT_FALSE(stack_slice_packs({&pv, &pq}).has_value());
      const SlicePack other_r = pack_slice(k, r == 8 ? 4 : 8, SliceMode::kClamped);
      EXPECT_FALSE(stack_slice_packs({&pq, &other_r}).has_value());
      const SlicePack narrow = pack_slice(every_code(16, 256, 8, group, device), r, SliceMode::kClamped);
      EXPECT_FALSE(stack_slice_packs({&pq, &narrow}).has_value());
    }
  }
}

// The decode kernel (CUDA only): every width (r = 1..8, both equations), per-channel and grouped
// scales, batch 1, 5 (with bias), 9 and 16, rows not a multiple of 16, columns not a multiple of 128,
// fewer chunks than warps, and enough rows that a block walks several tiles (17,000 rows: with 9
// chunks, warp 0 crosses from tile to tile in the middle of its prefetch ring), and 40,000 columns
// (a long walk of each warp's ring).
TEST(SlicePack, DecodeKernelMatchesFp32AndTheFakeQuantPath) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the slice-pack kernels run on CUDA";
  struct Shape {
    int64_t rows, columns;
    std::vector<int64_t> groups;
  };
  int checked = 0;
  for (const Shape& shape : {Shape{40, 1000, {0}}, Shape{48, 1152, {0, 128}}, Shape{72, 4352, {0, 128, 256}},
                             Shape{17000, 256, {0, 128}}, Shape{17000, 1152, {0}}, Shape{24, 40000, {0}}}) {
    for (int64_t group : shape.groups) {
      const NestedCodes codes = every_code(shape.rows, shape.columns, 8, group, device);
      for (auto mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
        for (int r = 1; r <= 8; ++r) {
          const SlicePack pack = pack_slice(codes, r, mode);
          const at::Tensor w = codes.dequantize(r, mode, at::kFloat);
          const at::Tensor w_bf16 = codes.dequantize(r, mode, at::kBFloat16);
          for (int64_t batch : {1, 5, 9, 16}) {
            const at::Tensor x = at::randn({batch, shape.columns}, at::TensorOptions(device)).to(at::kBFloat16);
            const at::Tensor bias =
                batch == 5 ? at::randn({shape.rows}, at::TensorOptions(device)).to(at::kBFloat16) : at::Tensor();
            // Batch 1 runs chained too (on sm_90, two row tiles per warp instead of one), and on the
            // integer tensor cores (per-channel scales; group-wise ones take the bf16 kernel).
            auto check = [&](bool integer_mma) {
              at::Tensor ours;
              {
                const LaunchMode mode(/*chained=*/batch == 1 && r % 2 == 0, /*row_tiles=*/0, integer_mma);
                // Forced, the integer kernel takes every per-channel batch-1 call up to 4352 columns
                // (wider ones need more shared memory than some GPUs give a block).
                if (shape.columns <= 4352) {
                  EXPECT_EQ(slice_pack_linear_uses_integer_mma(pack, batch), integer_mma && group == 0)
                      << "r " << r << " group " << group << " batch " << batch;
                }
                ours = slice_pack_linear(pack, x, bias).to(at::kFloat);
              }
              const at::Tensor xf = x.to(at::kFloat);
              at::Tensor exact = at::matmul(xf, w.t());
              if (bias.defined()) exact = exact + bias.to(at::kFloat);
              const at::Tensor magnitude = at::matmul(xf.abs(), w.abs().t());
              // Output rounding to bf16 (2^-9 relative) plus fp32 summation of the offset levels.
              const at::Tensor to_exact = (ours - exact).abs() - (exact.abs() * (1.0 / 256) + magnitude * 1e-4);
              EXPECT_LE(to_exact.max().item<double>(), 0.0) << "r " << r << " " << name(mode) << " group " << group
                                                            << " batch " << batch << " columns " << shape.columns
                                                            << " integer " << integer_mma;
              const at::Tensor fake = at::linear(x, w_bf16, bias).to(at::kFloat);
              const at::Tensor to_fake = (ours - fake).abs() - (exact.abs() * (2.0 / 256) + magnitude * (1.0 / 256));
              EXPECT_LE(to_fake.max().item<double>(), 0.0) << "r " << r << " batch " << batch << " integer " << integer_mma;
              ++checked;
            };
            check(false);
            if (batch == 1) check(true);
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, (1 + 2 + 3 + 2 + 1 + 1) * 2 * 8 * 5);
}

// Weights tall enough that a block's partial sums at batch 16 need more than 48 KB of shared
// memory (the opt-in path; 12 tiles of 16 rows per block on a 132-SM GPU).
TEST(SlicePack, DecodeKernelTakesVeryTallWeightsAtBatch16) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the slice-pack kernels run on CUDA";
  const NestedCodes codes = every_code(200000, 128, 8, 0, device);
  const SlicePack pack = pack_slice(codes, 4, SliceMode::kClamped);
  const at::Tensor x = at::randn({16, 128}, at::TensorOptions(device)).to(at::kBFloat16);
  const at::Tensor w = codes.dequantize(4, SliceMode::kClamped, at::kFloat);
  const at::Tensor exact = at::matmul(x.to(at::kFloat), w.t());
  const at::Tensor magnitude = at::matmul(x.to(at::kFloat).abs(), w.abs().t());
  const at::Tensor ours = slice_pack_linear(pack, x).to(at::kFloat);
  EXPECT_LE(((ours - exact).abs() - (exact.abs() * (1.0 / 256) + magnitude * 1e-4)).max().item<double>(), 0.0);
}

// The integer-MMA path turns x into 23-bit fixed point under one exponent per warp's columns:
// activations spanning 2^40 (an outlier among tiny values) still give x w^T within fp32 summation
// error, a zero x gives zeros, and a non-finite x gives NaN rather than a finite number.
TEST(SlicePack, IntegerMmaKeepsActivationsOfEveryMagnitude) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the slice-pack kernels run on CUDA";
  const NestedCodes codes = every_code(4096, 4096, 8, 0, device);
  const LaunchMode launch(/*chained=*/false, /*row_tiles=*/0, /*integer_mma=*/true);
  for (const int r : {2, 4, 8}) {
    const SlicePack pack = pack_slice(codes, r, SliceMode::kClamped);
    ASSERT_TRUE(slice_pack_linear_uses_integer_mma(pack, 1)) << "r " << r;
    const at::Tensor w = codes.dequantize(r, SliceMode::kClamped, at::kFloat);
    // Magnitudes 2^-20 .. 2^20 with random signs, one outlier at 2^20.
    at::Tensor x = at::pow(2.0, at::randint(-20, 21, {1, 4096}, at::TensorOptions(device).dtype(at::kFloat))) *
                   (at::randint(0, 2, {1, 4096}, at::TensorOptions(device).dtype(at::kFloat)) * 2 - 1);
    x.index_put_({0, 17}, 1048576.0);
    x = x.to(at::kBFloat16);
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor exact = at::matmul(xf, w.t());
    const at::Tensor magnitude = at::matmul(xf.abs(), w.abs().t());
    const at::Tensor ours = slice_pack_linear(pack, x).to(at::kFloat);
    EXPECT_LE(((ours - exact).abs() - (exact.abs() * (1.0 / 256) + magnitude * 1e-4)).max().item<double>(), 0.0) << "r " << r;
    const at::Tensor zero = slice_pack_linear(pack, at::zeros_like(x)).to(at::kFloat);
    EXPECT_TRUE(at::equal(zero, at::zeros_like(zero))) << "r " << r;
    at::Tensor bad = x.clone();
    bad.index_put_({0, 5}, std::numeric_limits<float>::infinity());
    EXPECT_TRUE(at::isnan(slice_pack_linear(pack, bad)).all().item<bool>()) << "r " << r;
  }
}

// The lowest of x's three digits matters: every chunk's first column holds a large value M (setting
// each warp's exponent) whose weight column is zero, and every other column a value near 2^-12 M,
// whose 23-bit fixed point has its last 8 bits in the lowest digit. The output then depends on those
// digits alone (losing the lowest would move it by several percent), and the integer kernel must give
// x w^T within bf16 output rounding. The construction (zero weight columns) is checked on CPU too.
TEST(SlicePack, IntegerMmaUsesEveryDigitOfTheActivations) {
  const at::Device device = matquant::testing::test_device();
  const int64_t rows = 64, columns = 4096;
  NestedCodes codes = every_code(rows, columns, 8, 0, device);
  // z = 128 and code 128 in the chunks' first columns: a level that every slice r = 2, 4, 8 holds
  // exactly, so those weights are (128 - 128) s = 0.
  codes.zero_point = at::full_like(codes.zero_point, 128.0);
  const at::Tensor first_columns = at::arange(0, columns, 128, at::TensorOptions(device).dtype(at::kLong));
  codes.codes.index_fill_(1, first_columns, 128);
  at::Tensor x = at::rand({1, columns}, at::TensorOptions(device).dtype(at::kFloat)) + 1.0;  // [1, 2)
  x = x * (at::randint(0, 2, {1, columns}, at::TensorOptions(device).dtype(at::kFloat)) * 2 - 1) * (1.0 / 4096);
  x.index_fill_(1, first_columns, 1.0);
  x = x.to(at::kBFloat16);
  for (const int r : {2, 4, 8}) {
    const SlicePack pack = pack_slice(codes, r, SliceMode::kClamped);
    const at::Tensor w = codes.dequantize(r, SliceMode::kClamped, at::kFloat);
    ASSERT_TRUE(at::equal(w.index_select(1, first_columns), at::zeros({rows, columns / 128}, w.options()))) << "r " << r;
    if (!device.is_cuda()) continue;
    const LaunchMode launch(/*chained=*/false, /*row_tiles=*/0, /*integer_mma=*/true);
    ASSERT_TRUE(slice_pack_linear_uses_integer_mma(pack, 1)) << "r " << r;
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor exact = at::matmul(xf, w.t());
    const at::Tensor magnitude = at::matmul(xf.abs(), w.abs().t());
    const at::Tensor ours = slice_pack_linear(pack, x).to(at::kFloat);
    EXPECT_LE(((ours - exact).abs() - (exact.abs() * (1.0 / 256) + magnitude * 1e-4)).max().item<double>(), 0.0) << "r " << r;
  }
  if (!device.is_cuda()) GTEST_SKIP() << "the construction holds; the kernel runs on CUDA";
}

// Chained launches (programmatic dependent launch on sm_90) let a call start while the previous one
// runs; each call here reads the previous call's output, so a read of x before the previous kernel
// finished would show as a difference from the same chain launched one call after another, with the
// same kernels (one or two row tiles per warp at batch 1, or the integer-MMA kernel). The chain
// mixes grids that fill the GPU (4096 rows: the next launch is released at the start) with small
// ones (1024 and 1040 rows, an odd count of row tiles: released after the main loop).
TEST(SlicePack, ChainedCallsReadThePreviousCallsOutput) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the slice-pack kernels run on CUDA";
  struct Layer {
    int64_t rows, columns;
    int r;
  };
  std::vector<SlicePack> packs;
  for (const Layer& layer : {Layer{4096, 4096, 8}, Layer{1040, 4096, 4}, Layer{4096, 1040, 2}, Layer{1024, 4096, 2},
                             Layer{4096, 1024, 4}, Layer{4096, 4096, 8}}) {
    NestedCodes codes = every_code(layer.rows, layer.columns, 8, 0, device);
    codes.scale = codes.scale * (1.0 / 64);  // keeps the chain's values in a moderate range
    packs.push_back(pack_slice(codes, layer.r, SliceMode::kClamped));
  }
  for (int64_t batch : {1, 16}) {
    const at::Tensor x = at::randn({batch, 4096}, at::TensorOptions(device)).to(at::kBFloat16);
    // Row tiles 1 and 2 on the bf16 kernel; 3 stands for the integer-MMA kernel (batch 1).
    for (int variant : {1, 2, 3}) {
      if (variant == 3 && batch != 1) continue;
      const int row_tiles = variant == 3 ? 0 : variant;
      auto chain = [&](bool chained) {
        const LaunchMode mode(chained, row_tiles, /*integer_mma=*/variant == 3);
        at::Tensor y = x;
        for (const SlicePack& pack : packs) y = slice_pack_linear(pack, y);
        return y.to(at::kFloat);
      };
      const at::Tensor one_after_another = chain(false);
      ASSERT_TRUE(at::isfinite(one_after_another).all().item<bool>());
      ASSERT_GT(one_after_another.abs().max().item<double>(), 0.0);
      for (int repeat = 0; repeat < 3; ++repeat) {
        EXPECT_TRUE(at::equal(chain(true), one_after_another))
            << "batch " << batch << " variant " << variant << " repeat " << repeat;
      }
    }
  }
}

// The benchmark's floors of a chained call run the integer kernel's grid: every row must get the sum
// of all of x (each block reads every column, padded columns as zeros), with or without streaming a
// pack's levels.
TEST(SlicePack, LatencyFloorWritesTheSumOfXToEveryRow) {
  const at::Device device = matquant::testing::test_device();
  if (!device.is_cuda()) GTEST_SKIP() << "the slice-pack kernels run on CUDA";
  const at::Tensor x = at::rand({1, 4000}, at::TensorOptions(device)).to(at::kBFloat16);
  const double sum = x.to(at::kDouble).sum().item<double>();
  for (const int r : {2, 4, 8}) {
    const SlicePack pack = pack_slice(every_code(1040, 4000, 8, 0, device), r, SliceMode::kClamped);
    ASSERT_EQ(pack.width, r);
    for (const bool chained : {false, true}) {
      for (const int variant : {0, 1, 2}) {  // no levels; levels, one block an SM; levels, two
        const LaunchMode mode(chained, 0);
        const at::Tensor y = matquant::kernels::slice_pack_latency_floor(1040, r, x, variant > 0 ? pack.words : at::Tensor(),
                                                                         variant == 2 ? 2 : 1)
                                 .to(at::kDouble);
        ASSERT_EQ(y.sizes(), (at::IntArrayRef{1, 1040}));
        EXPECT_LE((y - sum).abs().max().item<double>(), sum / 128.0) << "r " << r << " chained " << chained << " variant " << variant;
      }
    }
  }
}

TEST(SlicePack, RefusesInputOfTheWrongWidth) {
  const SlicePack pack = pack_slice(every_code(8, 64, 8, 0, at::kCPU), 4, SliceMode::kClamped);
  try {
    slice_pack_linear(pack, at::randn({2, 63}));
    FAIL() << "a 63-feature input was accepted by a 64-column weight";
  } catch (const matquant::Error& error) {
    EXPECT_EQ(error.code(), matquant::ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(error.what()).find("63"), std::string::npos) << error.what();
  }
}
