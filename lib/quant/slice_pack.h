#pragma once
// One slice of the nested code store packed for serving at its own width (issue 19): the levels
// l = S(q, r) / 2^(c-r) of the r-bit slice (Eq. 6, or Eq. 8 for Extra-Precision) at 2, 4 or 8 bits
// each, so applying int2 reads 2 bits per weight, int4 4 and int8 8. The bit planes
// (quant/bit_planes.h) serve every precision from one c-bit store but read r + 1 bits and cost
// several integer instructions per weight to decode; a slice pack is derived from the same codes
// (on the device, at load time) for each precision a server offers, and decodes a pair of levels
// with one shift and one LOP3 (lib/kernels/slice_pack_gemm.cu).
//
// Width: the smallest of 2, 4, 8 that holds the slice's top level (2^r - 1 for Eq. 6, 2^r for
// Eq. 8 below c): int1, int2 and E.P. int1 take 2; int3, int4, E.P. int2 and E.P. int3 take 4;
// int6, int8, E.P. int4 and E.P. int6 take 8.
//
// Layout: int32 [row_tiles, chunks, width / 2, 32, 4]. Rows are padded to tiles of 16 and columns
// to chunks of 128, with level 0. For row tile T and chunk C, lane L = 4 g + t of a warp reads the
// words [T, C, j, L, 0..3] (one 16-byte load per j; consecutive lanes are consecutive 16 bytes).
// Its word k = 4 j + v holds the levels of rows 16 T + g and 16 T + g + 8 at the columns
// 128 C + 32 t + 4 s + q (s = 0..7 is the MMA step, q = 0..3) that lane (g, t) holds in the A
// fragment of mma.m16n8k16: fragment register i (row g + 8 (i % 2), q = 2 (i / 2) + e) takes the
// field at bit offset f + 16 e, with
//   width 4: word k = s,      f = 4 i
//   width 2: word k = s / 2,  f = 2 (4 (s % 2) + i)
//   width 8: words k = 2 s (high nibbles) and 2 s + 1 (low nibbles), each f = 4 i.
#include "quant/nested_codes.h"

#include <optional>
#include <vector>

namespace matquant::quant {

struct SlicePack {
  static constexpr int64_t kRowTile = 16;
  static constexpr int64_t kChunkColumns = 128;
  int code_bits = 8;       // c
  int level_bits = 8;      // r
  SliceMode mode = SliceMode::kClamped;
  int width = 8;           // bits per stored level
  int64_t rows = 0;        // out
  int64_t columns = 0;     // in
  at::Tensor words;        // int32 [row_tiles, chunks, width / 2, 32, 4]
  at::Tensor scale;        // as NestedCodes (c-bit units)
  at::Tensor zero_point;
  int64_t group_size = 0;

  int64_t row_tiles() const { return (rows + kRowTile - 1) / kRowTile; }
  int64_t chunks() const { return (columns + kChunkColumns - 1) / kChunkColumns; }
  // 2^(c-r): a level's value in c-bit code units.
  double step() const { return double(int64_t(1) << (code_bits - level_bits)); }
  // Bytes of levels a matmul reads (padding included; scales not counted).
  int64_t level_bytes() const { return words.numel() * 4; }
};

// Bits per stored level of the r-bit slice of a c-bit store.
int slice_pack_width(int code_bits, int to_bits, SliceMode mode);

// The r-bit slice of `codes` packed, on the codes' device.
SlicePack pack_slice(const NestedCodes& codes, int to_bits, SliceMode mode);

// The stored levels back, int64 [rows, columns] (every word read; for tests and the CPU path).
at::Tensor slice_pack_levels(const SlicePack& pack);

SlicePack slice_pack_to(const SlicePack& pack, const at::Device& device);

// Packs of linears that read the same input (a layer's q, k and v; its gate and up) stacked by
// rows into one: applying it gives their outputs side by side, in the order given, from one
// matmul call instead of one per linear. Null when they cannot share a call: different slices,
// widths, input columns or groups, scales of different dtypes or devices, or a member other than
// the last whose rows are not whole tiles of 16 (its padding would sit between two members' rows).
std::optional<SlicePack> stack_slice_packs(const std::vector<const SlicePack*>& packs);

// The slice's weight [rows, columns] in dtype, equal to NestedCodes::dequantize(r, mode, dtype).
at::Tensor dequantize_slice_pack(const SlicePack& pack, at::ScalarType dtype);

// x [..., columns] times the slice's weight transposed (+ bias): [..., rows]. On CUDA with bf16 x of
// at most 16 rows and groups of a multiple of 128 (or per-channel scales) this is the slice-pack
// matmul kernel, which reads `width` bits per weight and never writes the weight; otherwise the
// slice is dequantized and at::linear runs.
at::Tensor slice_pack_linear(const SlicePack& pack, const at::Tensor& x, const at::Tensor& bias = {});

// Whether slice_pack_linear with `rows` bf16 activation rows runs the integer tensor-core kernel
// (kernels/slice_pack_ops.h, set_slice_pack_integer_mma) on the pack's device.
bool slice_pack_linear_uses_integer_mma(const SlicePack& pack, int64_t rows);

}  // namespace matquant::quant
