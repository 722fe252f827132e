#include "quant/slicing.h"

#include "common/error.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

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

TEST(Slicing, ExtraBucketCountAndEffectiveBits) {
  // Codes 224..255 (32 of 256) round into the extra int2 bucket: 2 + 32/256 = 2.125 bits.
  const at::Tensor codes = at::arange(256, float_options());
  const ExtraBucketStats stats = extra_bucket_stats(codes, 8, 2);
  EXPECT_EQ(stats.total, 256);
  EXPECT_EQ(stats.in_extra_bucket, 32);
  EXPECT_DOUBLE_EQ(stats.effective_bits(2), 2.125);
  // int8 from int8 has no extra bucket.
  EXPECT_EQ(extra_bucket_stats(codes, 8, 8).in_extra_bucket, 0);
  // int4: codes 248..255 (8 of 256).
  EXPECT_EQ(extra_bucket_stats(codes, 8, 4).in_extra_bucket, 8);
}

TEST(Slicing, RejectsImpossibleWidths) {
  EXPECT_THROW(slice_code(1, 8, 9, SliceMode::kClamped), matquant::Error);
  EXPECT_THROW(slice_code(1, 8, 0, SliceMode::kClamped), matquant::Error);
  EXPECT_THROW(slice_codes(at::zeros({2}, float_options()), 0, 0, SliceMode::kClamped),
               matquant::Error);
}
