#pragma once
// The nested code store as bit planes, the layout for serving one checkpoint at every precision
// (issue 19's packed format, read by the kernels in lib/kernels/bit_plane_gemm.cu).
//
// Plane k holds bit c-1-k of every c-bit code, 32 codes to an int32 word along each row. The
// r-bit slice of Eq. 6 (and Eq. 8) needs only the top r + 1 bits of a code:
//   S(q, r) / 2^(c-r) = floor(q / 2^(c-r) + 1/2) = ((q >> (c-r-1)) + 1) >> 1      (r < c)
// (write q = a 2^(c-r-1) + b with b < 2^(c-r-1); adding 2^(c-r-1) and shifting by c-r gives
// (a + 1) >> 1), clamped to 2^r - 1 for Eq. 6 and unclamped for Eq. 8. So serving int-r reads
// planes 0..r (r + 1 bits per weight; all c for r = c), and the whole file is c bits per weight
// plus scales, the same as the int8 model alone. The rounding bit is why a slice reads one plane
// more than its width: int2 reads 3 bits, int4 5, int8 8.
//
// Layout: int32 [rows, tiles, c, 8]. A tile is 256 columns (8 words); within a row, tile t holds
// words 8t..8t+7 of plane 0, then of plane 1, ..., so what the r-bit slice reads of a tile is one
// contiguous run of (r + 1) x 32 bytes (whole DRAM sectors), and a kernel finds every plane word
// of a tile at a fixed offset. The 8 words of a tile are stored in the order 0, 4, 1, 5, 2, 6, 3,
// 7 (word w at position 2 (w % 4) + w / 4): the kernel's thread t reads words t and t + 4 as one
// 8-byte load. Rows are padded with zero codes to a multiple of 256 columns.
#include "quant/nested_codes.h"

namespace matquant::quant {

struct BitPlanes {
  static constexpr int64_t kTileColumns = 256;
  int bits = 8;            // c
  int64_t rows = 0;        // out
  int64_t columns = 0;     // in
  at::Tensor planes;       // int32 [rows, tiles, c, 8]; bit j of word w of a plane is column 32 w + j
  at::Tensor scale;        // as NestedCodes
  at::Tensor zero_point;
  int64_t group_size = 0;

  int64_t tiles() const { return (columns + kTileColumns - 1) / kTileColumns; }
  // Plane k of every row as a view [rows, tiles, 8] (words in stored order).
  at::Tensor plane(int k) const { return planes.select(2, k); }
  // Planes an r-bit slice reads: r + 1 below c, else c.
  int planes_for(int to_bits) const { return to_bits >= bits ? bits : to_bits + 1; }
  // Bytes of code planes an r-bit slice reads (scales not counted; padding included).
  int64_t code_bytes_read(int to_bits) const { return int64_t(planes_for(to_bits)) * rows * tiles() * 32; }
};

BitPlanes pack_bit_planes(const NestedCodes& codes);

// Sliced codes in c-bit units (int16, as NestedCodes::sliced_codes), computed from planes
// 0 .. planes_for(to_bits) - 1 only.
at::Tensor slice_from_bit_planes(const BitPlanes& planes, int to_bits, SliceMode mode);

// The c-bit code store back (every plane read).
NestedCodes unpack_bit_planes(const BitPlanes& planes);

BitPlanes bit_planes_to(const BitPlanes& planes, const at::Device& device);

// The r-bit slice's weight [rows, columns] in dtype, equal to NestedCodes::dequantize of the
// unpacked store (on CUDA by the dequantize kernel, reading only the planes the slice needs).
at::Tensor dequantize_bit_planes(const BitPlanes& planes, int to_bits, SliceMode mode, at::ScalarType dtype);

// x [..., columns] times the r-bit slice's weight transposed (+ bias): [..., rows]. On CUDA with
// bf16 x of at most 16 rows (decode) this is the bit-plane matmul kernel, which reads r + 1 bits
// per weight and never writes the weight; otherwise (prefill, CPU, fp32) the slice is dequantized
// and at::linear runs. Every path computes the same function up to bf16 rounding.
at::Tensor bit_plane_linear(const BitPlanes& planes, const at::Tensor& x, int to_bits, SliceMode mode,
                            const at::Tensor& bias = {});

}  // namespace matquant::quant
