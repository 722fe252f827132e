#include "quant/slicing.h"
#include "quant/extra_bucket_accounting.h"

#include "common/error.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <vector>

using namespace matquant::quant;
using matquant::testing::float_options;

// The worked examples of the paper (Eq. 6, Appendix A, Errata), c = 8, r = 2.
TEST(Slicing, PaperWorkedExamples) {
  EXPECT_EQ(slice_code(234, 8, 2, SliceMode::kClamped), 192);  // 3.66 -> 4 -> clamped to 3
  EXPECT_EQ(slice_code(240, 8, 2, SliceMode::kClamped), 192);  // 3.75 -> 4 -> clamped to 3
  EXPECT_EQ(slice_code(53, 8, 2, SliceMode::kClamped), 64);    // the 32 bit is set: rounds up to 1
  EXPECT_EQ(slice_code(234, 8, 2, SliceMode::kExtraPrecision), 256);  // errata: 4 * 64, no clamp
}

// Writes down Eq. 6 per bucket for c = 8, r = 2: buckets of width 64 centred on 0, 64, 128, 192.
TEST(Slicing, Int2BucketsOfInt8ByHand) {
  for (int64_t q = 0; q < 256; ++q) {
    const int64_t expected = q < 32 ? 0 : q < 96 ? 64 : q < 160 ? 128 : 192;
    ASSERT_EQ(slice_code(q, 8, 2, SliceMode::kClamped), expected) << q;
    const int64_t expected_ep = q < 224 ? expected : 256;
    ASSERT_EQ(slice_code(q, 8, 2, SliceMode::kExtraPrecision), expected_ep) << q;
  }
}

// The tensor path (float arithmetic) equals the bit-operation reference for all codes and r.
TEST(Slicing, TensorPathMatchesBitReferenceForEveryCodeAndWidth) {
  const at::Tensor codes = at::arange(256, float_options());
  for (SliceMode mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
    for (int r = 1; r <= 8; ++r) {
      const at::Tensor sliced = slice_codes(codes, 8, r, mode).to(at::kCPU);
      for (int64_t q = 0; q < 256; ++q) {
        ASSERT_EQ(static_cast<int64_t>(sliced[q].item<float>()), slice_code(q, 8, r, mode))
            << "q=" << q << " r=" << r;
      }
    }
  }
}

// Properties of the full table: r-bit slices take exactly 2^r values (2^r + 1 with E.P.), are
// multiples of 2^(c-r), never move a code by more than half a bucket unless clamped, and r = c is
// the identity.
TEST(Slicing, FullTableProperties) {
  for (int r = 1; r <= 8; ++r) {
    const int64_t step = int64_t{1} << (8 - r);
    std::set<int64_t> levels;
    std::set<int64_t> levels_ep;
    for (int64_t q = 0; q < 256; ++q) {
      const int64_t s = slice_code(q, 8, r, SliceMode::kClamped);
      const int64_t e = slice_code(q, 8, r, SliceMode::kExtraPrecision);
      levels.insert(s);
      levels_ep.insert(e);
      ASSERT_EQ(s % step, 0);
      ASSERT_LE(s, 256 - step);
      ASSERT_LE(std::abs(e - q), step / 2) << q;
      if (e != 256) ASSERT_EQ(s, e);
      if (r == 8) ASSERT_EQ(s, q);
    }
    EXPECT_EQ(levels.size(), size_t{1} << r) << r;
    EXPECT_EQ(levels_ep.size(), (size_t{1} << r) + (r < 8 ? 1 : 0)) << r;
  }
}

TEST(Slicing, NestedSlicesFromOtherSourceWidths) {
  // c = 4 -> r = 2: codes 0..15 in buckets of 4: 0,1 -> 0; 2..5 -> 4; 6..9 -> 8; 10..15 -> 12.
  const std::vector<int64_t> expected = {0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 12, 12};
  for (int64_t q = 0; q < 16; ++q) EXPECT_EQ(slice_code(q, 4, 2, SliceMode::kClamped), expected[q]);
}

TEST(Slicing, ExtraBucketCount) {
  // Codes 224..255 (32 of 256) round into the extra int2 bucket.
  const at::Tensor codes = at::arange(256, float_options());
  const ExtraBucketStats stats = extra_bucket_stats(codes, 8, 2);
  EXPECT_EQ(stats.total, 256);
  EXPECT_EQ(stats.rows, 1);
  EXPECT_EQ(stats.in_extra_bucket, 32);
  EXPECT_DOUBLE_EQ(stats.fraction(), 0.125);
  // int8 from int8 has no extra bucket.
  EXPECT_EQ(extra_bucket_stats(codes, 8, 8).in_extra_bucket, 0);
  // int4: codes 248..255 (8 of 256).
  EXPECT_EQ(extra_bucket_stats(codes, 8, 4).in_extra_bucket, 8);
}

// Eq. 8 puts q in the r-bit extra bucket iff q >= 2^c - 2^(c-r-1), so each r's bucket holds every
// larger r's (the buckets nest) and code 255, a MinMax channel's maximum, is in all of them.
TEST(Slicing, ExtraBucketsNestForEveryCode) {
  for (int64_t q = 0; q < 256; ++q) {
    for (int r = 1; r < 8; ++r) {
      const bool in_bucket = slice_code(q, 8, r, SliceMode::kExtraPrecision) == 256;
      ASSERT_EQ(in_bucket, q >= 256 - (int64_t{1} << (7 - r))) << "q=" << q << " r=" << r;
      if (r > 1 && in_bucket) {
        ASSERT_EQ(slice_code(q, 8, r - 1, SliceMode::kExtraPrecision), 256) << "q=" << q << " r=" << r;
      }
    }
  }
  const at::Tensor codes = at::arange(256, float_options());
  for (int r = 1; r < 8; ++r) {
    EXPECT_EQ(extra_bucket_stats(codes, 8, r).in_extra_bucket, int64_t{1} << (7 - r)) << r;
  }
}

// A 2 x 8 code matrix with codes on both sides of each bucket edge (224, 240, 248, 254 for
// r = 2, 3, 4, 6). In the bucket: r = 2: 9 codes, r = 3: 7, r = 4: 5, r = 6: 3 (of 16).
TEST(ExtraBucketAccounting, HandMadeCodesUnderEveryAccounting) {
  const at::Tensor codes = at::tensor(std::vector<int64_t>{0, 100, 223, 224, 239, 240, 247, 248,
                                                           253, 254, 255, 255, 10, 128, 200, 50})
                               .to(at::kByte)
                               .view({2, 8})
                               .to(matquant::testing::test_device());
  struct Expected {
    int r;
    int64_t in_bucket;
    double flag, bit_plane, index32, row_index;
  };
  // row_index: 3 bits (ceil log2 8) per extra weight + 4 bits (ceil log2 9) per row's count.
  const Expected expected[] = {
      {2, 9, 2 + 9.0 / 16, 3, 2 + 32 * 9.0 / 16, 2 + (9 * 3 + 2 * 4) / 16.0},
      {3, 7, 3 + 7.0 / 16, 4, 3 + 32 * 7.0 / 16, 3 + (7 * 3 + 2 * 4) / 16.0},
      {4, 5, 4 + 5.0 / 16, 5, 4 + 32 * 5.0 / 16, 4 + (5 * 3 + 2 * 4) / 16.0},
      {6, 3, 6 + 3.0 / 16, 7, 6 + 32 * 3.0 / 16, 6 + (3 * 3 + 2 * 4) / 16.0},
      {8, 0, 8, 8, 8, 8},  // r = c: no extra bucket, nothing to store
  };
  for (const auto& e : expected) {
    const ExtraBucketStats stats = extra_bucket_stats(codes, 8, e.r);
    EXPECT_EQ(stats.rows, 2);
    EXPECT_EQ(stats.in_features(), 8);
    EXPECT_EQ(stats.in_extra_bucket, e.in_bucket) << e.r;
    EXPECT_DOUBLE_EQ(stats.fraction(), e.in_bucket / 16.0) << e.r;
    EXPECT_DOUBLE_EQ(effective_bits(stats, ExtraBitsAccounting::kFlag), e.flag) << e.r;
    EXPECT_DOUBLE_EQ(effective_bits(stats, ExtraBitsAccounting::kBitPlane), e.bit_plane) << e.r;
    EXPECT_DOUBLE_EQ(effective_bits(stats, ExtraBitsAccounting::kIndex32), e.index32) << e.r;
    EXPECT_DOUBLE_EQ(effective_bits(stats, ExtraBitsAccounting::kRowIndex), e.row_index) << e.r;
    EXPECT_DOUBLE_EQ(effective_bits(stats), e.index32) << "the default is index32";
  }
}

// Table 7 (seed 001) under the default accounting: 2.052 bits for int2 on Gemma-2 2B is
// 0.052 / 32 = 0.1625% of the weights, under the poster's 1%; under r + f it would be 5.2%.
TEST(ExtraBucketAccounting, Table7Int2FigureMeansUnderOnePercent) {
  ExtraBucketStats stats;
  stats.from_bits = 8;
  stats.to_bits = 2;
  stats.rows = 10000;
  stats.total = 10000 * 10000;
  stats.in_extra_bucket = 162500;  // 0.1625%
  EXPECT_NEAR(effective_bits(stats), 2.052, 1e-12);
  EXPECT_LT(stats.fraction(), 0.01);
  stats.in_extra_bucket = 5200000;  // 5.2%: what r + f needs for the same figure
  EXPECT_NEAR(effective_bits(stats, ExtraBitsAccounting::kFlag), 2.052, 1e-12);
}

TEST(ExtraBucketAccounting, Names) {
  EXPECT_EQ(accounting_name(ExtraBitsAccounting::kFlag), "flag");
  EXPECT_EQ(accounting_name(ExtraBitsAccounting::kBitPlane), "bit_plane");
  EXPECT_EQ(accounting_name(ExtraBitsAccounting::kIndex32), "index32");
  EXPECT_EQ(accounting_name(ExtraBitsAccounting::kRowIndex), "row_index");
}

TEST(Slicing, RejectsImpossibleWidths) {
  EXPECT_THROW(slice_code(1, 8, 9, SliceMode::kClamped), matquant::Error);
  EXPECT_THROW(slice_code(1, 8, 0, SliceMode::kClamped), matquant::Error);
  EXPECT_THROW(slice_codes(at::zeros({2}, float_options()), 0, 0, SliceMode::kClamped),
               matquant::Error);
}
