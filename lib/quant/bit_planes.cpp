#include "quant/bit_planes.h"

#include "common/error.h"
#include "kernels/bit_plane_ops.h"
#include "kernels/fused_ops.h"
#include "quant/minmax.h"
#include "quant/packed_linear.h"

#include <c10/core/GradMode.h>

#include <fmt/format.h>

namespace matquant::quant {

namespace {

// [rows, words * 32] int32 values of 0/1 -> [rows, words] int32 words (bit j = column 32 w + j).
at::Tensor pack_bits(const at::Tensor& bits) {
  const int64_t rows = bits.size(0), words = bits.size(1) / 32;
  const at::Tensor weights = at::bitwise_left_shift(at::ones({32}, bits.options().dtype(at::kLong)),
                                                    at::arange(32, bits.options().dtype(at::kLong)));
  // Summed in int64 (bit 31 would overflow int32), then reinterpreted as the int32 word.
  const at::Tensor packed = (bits.to(at::kLong).view({rows, words, 32}) * weights).sum(-1);
  return at::where(packed >= (int64_t(1) << 31), packed - (int64_t(1) << 32), packed).to(at::kInt);
}

// [rows, words] int32 -> [rows, columns] int64 bits.
at::Tensor unpack_bits(const at::Tensor& words, int64_t columns) {
  const at::Tensor shifts = at::arange(32, words.options().dtype(at::kLong));
  const at::Tensor bits = at::bitwise_and(at::bitwise_right_shift(words.to(at::kLong).unsqueeze(-1), shifts), 1);
  return bits.reshape({words.size(0), -1}).slice(1, 0, columns);
}

// Position i of a tile holds word stored_order[i]; word w sits at word_order[w] (BitPlanes' layout).
at::Tensor stored_order(const at::Device& device) {
  return at::tensor(std::vector<int64_t>{0, 4, 1, 5, 2, 6, 3, 7}, at::kLong).to(device);
}
at::Tensor word_order(const at::Device& device) {
  return at::tensor(std::vector<int64_t>{0, 2, 4, 6, 1, 3, 5, 7}, at::kLong).to(device);
}

}  // namespace

BitPlanes pack_bit_planes(const NestedCodes& codes) {
  c10::NoGradGuard no_grad;
  if (codes.codes.dim() != 2) throw_invalid("bit planes pack a 2-D code tensor [out, in]");
  BitPlanes out;
  out.bits = codes.bits;
  out.rows = codes.codes.size(0);
  out.columns = codes.codes.size(1);
  out.scale = codes.scale;
  out.zero_point = codes.zero_point;
  out.group_size = codes.group_size;
  const int64_t padded = out.tiles() * BitPlanes::kTileColumns;
  at::Tensor q = codes.codes.to(at::kLong);
  if (padded != out.columns) q = at::constant_pad_nd(q, {0, padded - out.columns}, 0);
  std::vector<at::Tensor> planes;
  for (int k = 0; k < out.bits; ++k) {
    const at::Tensor words = pack_bits(at::bitwise_and(at::bitwise_right_shift(q, out.bits - 1 - k), 1));
    planes.push_back(words.view({out.rows, out.tiles(), 8}).index_select(2, stored_order(words.device())));
  }
  out.planes = at::stack(planes, 2).contiguous();
  return out;
}

at::Tensor slice_from_bit_planes(const BitPlanes& p, int to_bits, SliceMode mode) {
  c10::NoGradGuard no_grad;
  check_slice_bits(p.bits, to_bits);
  const int read = p.planes_for(to_bits);
  // The top `read` bits of every code, from the planes it needs and no other.
  at::Tensor top = at::zeros({p.rows, p.columns}, p.planes.options().dtype(at::kLong));
  for (int k = 0; k < read; ++k) top = at::bitwise_or(at::bitwise_left_shift(top, 1), unpack_bits(p.plane(k).index_select(2, word_order(p.planes.device())).reshape({p.rows, -1}), p.columns));
  if (to_bits >= p.bits) return top.to(at::kShort);
  at::Tensor level = at::bitwise_right_shift(top + 1, 1);
  if (mode == SliceMode::kClamped) level = level.clamp_max((int64_t(1) << to_bits) - 1);
  return at::bitwise_left_shift(level, p.bits - to_bits).to(at::kShort);
}

NestedCodes unpack_bit_planes(const BitPlanes& p) {
  NestedCodes out;
  out.codes = slice_from_bit_planes(p, p.bits, SliceMode::kClamped).to(at::kByte);
  out.scale = p.scale;
  out.zero_point = p.zero_point;
  out.bits = p.bits;
  out.group_size = p.group_size;
  return out;
}

BitPlanes bit_planes_to(const BitPlanes& p, const at::Device& device) {
  BitPlanes out = p;
  out.planes = p.planes.to(device);
  out.scale = p.scale.to(device);
  out.zero_point = p.zero_point.to(device);
  return out;
}

namespace {

kernels::BitPlaneOperand operand(const BitPlanes& p) {
  return {p.planes.contiguous(), p.scale.to(at::kFloat).contiguous(), p.zero_point.to(at::kFloat).contiguous(),
          p.bits, p.group_size, p.columns};
}

bool kernels_apply(const BitPlanes& p) {
  return kernels::fused_kernels_enabled(p.scale) && p.planes.is_cuda() && p.group_size % 128 == 0;
}

}  // namespace

at::Tensor dequantize_bit_planes(const BitPlanes& p, int to_bits, SliceMode mode, at::ScalarType dtype) {
  c10::NoGradGuard no_grad;
  check_slice_bits(p.bits, to_bits);
  if (kernels_apply(p) && dtype == at::kBFloat16) {
    return kernels::bit_plane_dequantize(operand(p), to_bits, mode == SliceMode::kExtraPrecision);
  }
  const at::Tensor codes = slice_from_bit_planes(p, to_bits, mode).to(at::kFloat);
  const AffineParams params{p.scale.to(at::kFloat).unsqueeze(-1), p.zero_point.to(at::kFloat).unsqueeze(-1)};
  return from_groups(dequantize_codes(to_groups(codes, p.group_size), params)).to(dtype);
}

at::Tensor bit_plane_linear(const BitPlanes& p, const at::Tensor& x, int to_bits, SliceMode mode,
                            const at::Tensor& bias) {
  const bool extra = mode == SliceMode::kExtraPrecision;
  return packed_linear(
      "bit_plane_linear", x, p.rows, p.columns, kernels_apply(p), p.planes.device(), kernels::bit_plane_matmul_max_rows(),
      [&](const at::Tensor& x2d, const at::Tensor& b) { return kernels::bit_plane_matmul(operand(p), to_bits, extra, x2d, b); },
      [&](at::ScalarType dtype) { return dequantize_bit_planes(p, to_bits, mode, dtype); }, bias);
}

}  // namespace matquant::quant
