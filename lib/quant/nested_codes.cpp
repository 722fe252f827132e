#include "quant/nested_codes.h"

#include "common/error.h"

#include <c10/core/GradMode.h>

#include <fmt/format.h>

namespace matquant::quant {

NestedCodes NestedCodes::quantize(const at::Tensor& weight, int bits, int64_t group_size,
                                  const std::optional<AffineParams>& params) {
  if (bits < 1 || bits > 8) {
    throw_invalid(fmt::format("the nested code store holds c in 1..8 bits (uint8), got {}", bits));
  }
  c10::NoGradGuard no_grad;
  const at::Tensor grouped = to_groups(weight.detach().to(at::kFloat), group_size);
  const AffineParams p = params ? AffineParams{params->scale.detach().to(at::kFloat),
                                               params->zero_point.detach().to(at::kFloat)}
                                : minmax_params(grouped, bits);
  NestedCodes out;
  out.codes = from_groups(quantize_codes(grouped, p, bits)).to(at::kByte);
  out.scale = p.scale.squeeze(-1).contiguous();
  out.zero_point = p.zero_point.squeeze(-1).contiguous();
  out.bits = bits;
  out.group_size = group_size;
  return out;
}

at::Tensor NestedCodes::sliced_codes(int to_bits, SliceMode mode) const {
  return slice_codes(codes.to(at::kFloat), bits, to_bits, mode).to(at::kShort);
}

at::Tensor NestedCodes::dequantize(int to_bits, SliceMode mode, at::ScalarType dtype) const {
  c10::NoGradGuard no_grad;
  const at::Tensor grouped = to_groups(codes.to(at::kFloat), group_size);
  const at::Tensor sliced = slice_codes(grouped, bits, to_bits, mode);
  const AffineParams p{scale.unsqueeze(-1), zero_point.unsqueeze(-1)};
  return from_groups(dequantize_codes(sliced, p)).to(dtype);
}

NestedCodes NestedCodes::to(const at::Device& device) const {
  NestedCodes out = *this;
  out.codes = codes.to(device);
  out.scale = scale.to(device);
  out.zero_point = zero_point.to(device);
  return out;
}

}  // namespace matquant::quant
