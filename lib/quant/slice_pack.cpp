#include "quant/slice_pack.h"

#include "common/error.h"
#include "kernels/fused_ops.h"
#include "kernels/slice_pack_ops.h"
#include "quant/minmax.h"
#include "quant/packed_linear.h"

#include <c10/core/GradMode.h>

#include <fmt/format.h>

namespace matquant::quant {

namespace {

// Bit offsets of the fields (quant/slice_pack.h), as int64 tensors shaped to broadcast against the
// levels viewed [tile, h, g, chunk, t, s, q] (width 4) or [tile, h, g, chunk, t, u, s % 2, q] (width 2),
// where row = 16 tile + 8 h + g, column = 128 chunk + 32 t + 4 s + q and u = s / 2.
at::Tensor nibble_offsets(const at::Device& device) {
  std::vector<int64_t> f;
  for (int h = 0; h < 2; ++h) {
    for (int q = 0; q < 4; ++q) f.push_back(4 * (h + 2 * (q / 2)) + 16 * (q % 2));
  }
  return at::tensor(f, at::kLong).to(device).view({1, 2, 1, 1, 1, 1, 4});
}
at::Tensor crumb_offsets(const at::Device& device) {
  std::vector<int64_t> f;
  for (int h = 0; h < 2; ++h) {
    for (int sigma = 0; sigma < 2; ++sigma) {
      for (int q = 0; q < 4; ++q) f.push_back(2 * (4 * sigma + h + 2 * (q / 2)) + 16 * (q % 2));
    }
  }
  return at::tensor(f, at::kLong).to(device).view({1, 2, 1, 1, 1, 1, 2, 4});
}

// Levels [tiles x 16, chunks x 128] (each below 16) -> words [tile, g, chunk, t, s] of width 4.
at::Tensor pack_nibbles(const at::Tensor& levels, int64_t tiles, int64_t chunks) {
  const at::Tensor l = levels.view({tiles, 2, 8, chunks, 4, 8, 4});
  return at::bitwise_left_shift(l, nibble_offsets(l.device())).sum({1, 6});
}
at::Tensor unpack_nibbles(const at::Tensor& words, int64_t tiles, int64_t chunks) {
  const at::Tensor w = words.view({tiles, 1, 8, chunks, 4, 8, 1});
  return at::bitwise_and(at::bitwise_right_shift(w, nibble_offsets(w.device())), 15).reshape({tiles * 16, chunks * 128});
}

// [tile, g, chunk, t, k] int64 words -> [tile, chunk, k / 4, 32, 4] int32 (the lanes' load order).
at::Tensor to_load_order(const at::Tensor& words) {
  const int64_t tiles = words.size(0), chunks = words.size(2), k = words.size(4);
  at::Tensor w = words.view({tiles, 8, chunks, 4, k / 4, 4}).permute({0, 2, 4, 1, 3, 5}).reshape({tiles, chunks, k / 4, 32, 4});
  // Bit 31 may be set: wrap into int32.
  return at::where(w >= (int64_t(1) << 31), w - (int64_t(1) << 32), w).to(at::kInt).contiguous();
}
at::Tensor from_load_order(const at::Tensor& words) {
  const int64_t tiles = words.size(0), chunks = words.size(1), loads = words.size(2);
  const at::Tensor w = at::bitwise_and(words.to(at::kLong), int64_t(0xFFFFFFFF));
  return w.view({tiles, chunks, loads, 8, 4, 4}).permute({0, 3, 1, 4, 2, 5}).reshape({tiles, 8, chunks, 4, loads * 4});
}

kernels::SlicePackOperand operand(const SlicePack& p) {
  return {p.words.contiguous(), p.scale.to(at::kFloat).contiguous(), p.zero_point.to(at::kFloat).contiguous(),
          p.width, p.step(), p.group_size, p.columns};
}

bool kernels_apply(const SlicePack& p) {
  return kernels::fused_kernels_enabled(p.scale) && p.words.is_cuda() && p.group_size % SlicePack::kChunkColumns == 0;
}

}  // namespace

int slice_pack_width(int code_bits, int to_bits, SliceMode mode) {
  check_slice_bits(code_bits, to_bits);
  const int64_t top = to_bits < code_bits && mode == SliceMode::kExtraPrecision ? (int64_t(1) << to_bits)
                                                                                 : (int64_t(1) << to_bits) - 1;
  for (int width : {2, 4, 8}) {
    if (top < (int64_t(1) << width)) return width;
  }
  throw_invalid(fmt::format("slice packs hold levels up to 255; the {}-bit slice of a {}-bit store reaches {}", to_bits,
                            code_bits, top));
}

SlicePack pack_slice(const NestedCodes& codes, int to_bits, SliceMode mode) {
  c10::NoGradGuard no_grad;
  if (codes.codes.dim() != 2) throw_invalid("slice packs pack a 2-D code tensor [out, in]");
  SlicePack out;
  out.code_bits = codes.bits;
  out.level_bits = to_bits;
  out.mode = mode;
  out.width = slice_pack_width(codes.bits, to_bits, mode);
  out.rows = codes.codes.size(0);
  out.columns = codes.codes.size(1);
  out.scale = codes.scale;
  out.zero_point = codes.zero_point;
  out.group_size = codes.group_size;
  const int64_t tiles = out.row_tiles(), chunks = out.chunks();
  // Sliced codes are multiples of 2^(c-r): the shift is exact.
  at::Tensor levels = at::bitwise_right_shift(codes.sliced_codes(to_bits, mode).to(at::kLong), codes.bits - to_bits);
  levels = at::constant_pad_nd(levels, {0, chunks * SlicePack::kChunkColumns - out.columns, 0,
                                        tiles * SlicePack::kRowTile - out.rows}, 0);
  at::Tensor words;
  if (out.width == 4) {
    words = pack_nibbles(levels, tiles, chunks);
  } else if (out.width == 8) {
    words = at::stack({pack_nibbles(at::bitwise_right_shift(levels, 4), tiles, chunks),
                       pack_nibbles(at::bitwise_and(levels, 15), tiles, chunks)}, -1)
                .reshape({tiles, 8, chunks, 4, 16});
  } else {
    const at::Tensor l = levels.view({tiles, 2, 8, chunks, 4, 4, 2, 4});
    words = at::bitwise_left_shift(l, crumb_offsets(l.device())).sum({1, 6, 7});
  }
  out.words = to_load_order(words);
  return out;
}

at::Tensor slice_pack_levels(const SlicePack& p) {
  c10::NoGradGuard no_grad;
  const int64_t tiles = p.row_tiles(), chunks = p.chunks();
  const at::Tensor words = from_load_order(p.words);  // [tile, g, chunk, t, k]
  at::Tensor levels;
  if (p.width == 4) {
    levels = unpack_nibbles(words, tiles, chunks);
  } else if (p.width == 8) {
    const at::Tensor pairs = words.view({tiles, 8, chunks, 4, 8, 2});
    levels = unpack_nibbles(pairs.select(-1, 0).contiguous(), tiles, chunks) * 16 +
             unpack_nibbles(pairs.select(-1, 1).contiguous(), tiles, chunks);
  } else {
    const at::Tensor w = words.view({tiles, 1, 8, chunks, 4, 4, 1, 1});
    levels = at::bitwise_and(at::bitwise_right_shift(w, crumb_offsets(w.device())), 3).reshape({tiles * 16, chunks * 128});
  }
  return levels.slice(0, 0, p.rows).slice(1, 0, p.columns);
}

SlicePack slice_pack_to(const SlicePack& p, const at::Device& device) {
  SlicePack out = p;
  out.words = p.words.to(device);
  out.scale = p.scale.to(device);
  out.zero_point = p.zero_point.to(device);
  return out;
}

std::optional<SlicePack> stack_slice_packs(const std::vector<const SlicePack*>& packs) {
  c10::NoGradGuard no_grad;
  if (packs.empty()) return std::nullopt;
  const SlicePack& first = *packs.front();
  std::vector<at::Tensor> words, scales, zeros;
  for (size_t i = 0; i < packs.size(); ++i) {
    const SlicePack& p = *packs[i];
    const bool same = p.code_bits == first.code_bits && p.level_bits == first.level_bits && p.mode == first.mode &&
                      p.width == first.width && p.columns == first.columns && p.group_size == first.group_size &&
                      p.scale.scalar_type() == first.scale.scalar_type() &&
                      p.zero_point.scalar_type() == first.zero_point.scalar_type() &&
                      p.words.device() == first.words.device() && p.scale.device() == first.scale.device();
    if (!same || (i + 1 < packs.size() && p.rows % SlicePack::kRowTile != 0)) return std::nullopt;
    words.push_back(p.words);
    scales.push_back(p.scale);
    zeros.push_back(p.zero_point);
  }
  SlicePack out = first;
  out.rows = 0;
  for (const SlicePack* p : packs) out.rows += p->rows;
  out.words = at::cat(words, 0);
  out.scale = at::cat(scales, 0);
  out.zero_point = at::cat(zeros, 0);
  return out;
}

at::Tensor dequantize_slice_pack(const SlicePack& p, at::ScalarType dtype) {
  c10::NoGradGuard no_grad;
  if (kernels_apply(p) && dtype == at::kBFloat16) return kernels::slice_pack_dequantize(operand(p));
  const at::Tensor codes = (slice_pack_levels(p) * (int64_t(1) << (p.code_bits - p.level_bits))).to(at::kFloat);
  const AffineParams params{p.scale.to(at::kFloat).unsqueeze(-1), p.zero_point.to(at::kFloat).unsqueeze(-1)};
  return from_groups(dequantize_codes(to_groups(codes, p.group_size), params)).to(dtype);
}

at::Tensor slice_pack_linear(const SlicePack& p, const at::Tensor& x, const at::Tensor& bias) {
  return packed_linear(
      "slice_pack_linear", x, p.rows, p.columns, kernels_apply(p), p.words.device(), kernels::slice_pack_matmul_max_rows(),
      [&](const at::Tensor& x2d, const at::Tensor& b) { return kernels::slice_pack_matmul(operand(p), x2d, b); },
      [&](at::ScalarType dtype) { return dequantize_slice_pack(p, dtype); }, bias);
}

bool slice_pack_linear_uses_integer_mma(const SlicePack& p, int64_t rows) {
  return kernels_apply(p) && rows <= kernels::slice_pack_matmul_max_rows() &&
         kernels::slice_pack_matmul_uses_integer_mma(operand(p), rows);
}

}  // namespace matquant::quant
