// Bit planes of the nested code store (lib/quant/bit_planes.h): every one of the 256 int8 codes,
// sliced to every r by Eq. 6 and Eq. 8, comes out of the planes exactly as lib/quant's slicing
// gives it, reading only the top r + 1 planes (the others are overwritten with noise to prove it);
// the whole store round-trips, rows whose length is not a multiple of 32 included.
#include "quant/bit_planes.h"

#include <gtest/gtest.h>

using namespace matquant::quant;

namespace {

// One row holding every c-bit code twice (in order, then reversed), plus a short tail.
NestedCodes every_code(int bits) {
  const int64_t n = int64_t(1) << bits;
  const at::Tensor ordered = at::arange(n, at::kLong);
  const at::Tensor row = at::cat({ordered, ordered.flip(0), ordered.slice(0, 0, 7)});
  NestedCodes codes;
  codes.codes = row.unsqueeze(0).repeat({3, 1}).to(at::kByte);
  codes.scale = at::ones({3, 1});
  codes.zero_point = at::zeros({3, 1});
  codes.bits = bits;
  return codes;
}

}  // namespace

TEST(BitPlanes, EveryCodeSlicesExactlyFromItsTopPlanes) {
  for (int c : {8, 6, 4}) {
    const NestedCodes codes = every_code(c);
    for (auto mode : {SliceMode::kClamped, SliceMode::kExtraPrecision}) {
      for (int r = 1; r <= c; ++r) {
        BitPlanes planes = pack_bit_planes(codes);
        // Noise in every plane a slice must not read.
        for (int k = planes.planes_for(r); k < c; ++k) planes.plane(k).random_();
        const at::Tensor ours = slice_from_bit_planes(planes, r, mode);
        const at::Tensor expected = codes.sliced_codes(r, mode);
        EXPECT_TRUE(at::equal(ours, expected)) << "c " << c << " r " << r;
        // And the scalar reference, code by code, on the first row.
        for (int64_t j = 0; j < codes.codes.size(1); ++j) {
          const int64_t q = codes.codes[0][j].item<int64_t>();
          ASSERT_EQ(ours[0][j].item<int64_t>(), slice_code(q, c, r, mode)) << "q " << q << " r " << r;
        }
      }
    }
  }
}

TEST(BitPlanes, StoreRoundTripsAndCountsWhatEachSliceReads) {
  at::manual_seed(0);
  const NestedCodes codes = NestedCodes::quantize(at::randn({5, 300}), 8, 0);
  const BitPlanes planes = pack_bit_planes(codes);
  // [rows, tiles of 256 columns, planes, 8 words]: column j of plane k is bit j % 32 of word
  // w = (j % 256) / 32 of tile j / 256, stored at position 2 (w % 4) + w / 4.
  EXPECT_EQ(planes.planes.sizes(), (std::vector<int64_t>{5, 2, 8, 8}));
  for (int64_t row : {0, 4}) {
    for (int64_t j : {0, 37, 255, 256, 299}) {
      const int code = codes.codes[row][j].item<int>();
      for (int k = 0; k < 8; ++k) {
        const int64_t w = (j % 256) / 32;
        const uint32_t word = uint32_t(planes.planes[row][j / 256][k][2 * (w % 4) + w / 4].item<int32_t>());
        EXPECT_EQ((word >> (j % 32)) & 1u, uint32_t(code >> (7 - k)) & 1u) << "row " << row << " column " << j;
      }
    }
  }
  const NestedCodes back = unpack_bit_planes(planes);
  EXPECT_TRUE(at::equal(back.codes, codes.codes));
  EXPECT_TRUE(at::equal(back.dequantize(4), codes.dequantize(4)));
  // int2 reads 3 planes, int4 5, int8 all 8: 3/8, 5/8 and 8/8 of the file's code bytes.
  EXPECT_EQ(planes.planes_for(2), 3);
  EXPECT_EQ(planes.planes_for(4), 5);
  EXPECT_EQ(planes.planes_for(8), 8);
  EXPECT_EQ(planes.code_bytes_read(2) * 8, planes.code_bytes_read(8) * 3);
}
