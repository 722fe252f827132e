#include "quant/mx_format.h"

#include "common/error.h"
#include "quant/weight_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace matquant::quant {

namespace {

int max_code(int bits) { return (1 << (bits - 1)) - 1; }

void check_bits(int bits) {
  if (bits < 2 || bits > 8) throw_invalid(fmt::format("MXINT element width {} is outside 2..8", bits));
}

// round half away from zero, as the reference library's "nearest" (sign * floor(|x| + 1/2))
at::Tensor round_half_away(const at::Tensor& x) { return at::sign(x) * at::floor(at::abs(x) + 0.5); }

double round_half_away(double x) { return std::copysign(std::floor(std::fabs(x) + 0.5), x); }

// [..., L] -> [..., blocks, b] with zero padding of a short last block.
at::Tensor to_blocks(const at::Tensor& values, int64_t block) {
  const int64_t length = values.size(-1);
  const int64_t blocks = (length + block - 1) / block;
  at::Tensor padded = values;
  if (blocks * block != length) {
    auto pad_shape = values.sizes().vec();
    pad_shape.back() = blocks * block - length;
    padded = at::cat({values, at::zeros(pad_shape, values.options())}, -1);
  }
  auto shape = values.sizes().vec();
  shape.back() = blocks;
  shape.push_back(block);
  return padded.reshape(shape);
}

at::Tensor from_blocks(const at::Tensor& blocked, int64_t length) {
  auto shape = blocked.sizes().vec();
  shape.pop_back();
  shape.back() = blocked.size(-2) * blocked.size(-1);
  return blocked.reshape(shape).narrow(-1, 0, length);
}

}  // namespace

std::string MxFormat::name() const { return fmt::format("mxint{}-{}", element_bits, block_size); }

MxFormat parse_mx_format(const std::string& text) {
  const WeightFormat format = parse_weight_format(text);
  if (format.kind != WeightFormat::Kind::kMxInt) {
    throw_invalid("'" + text + "' is not an MX integer format (mxintD-B: D element bits 2..8, B values per block)");
  }
  return {format.bits, format.block_size};
}

int mx_shared_exponent(double block_absmax) {
  if (block_absmax == 0.0) return kMxMinExponent;
  const int e = int(std::floor(std::log2(block_absmax)));
  if (e > kMxMaxExponent) throw_invalid(fmt::format("value {} is beyond MX's largest scale 2^127", block_absmax));
  return std::max(e, kMxMinExponent);
}

int mx_element_code(double value, int exponent, int element_bits) {
  check_bits(element_bits);
  const double scaled = std::ldexp(value, element_bits - 2 - exponent);
  return int(std::clamp(round_half_away(scaled), double(-max_code(element_bits)), double(max_code(element_bits))));
}

int mx_slice_code(int code, int from_bits, int to_bits) {
  check_bits(from_bits);
  check_bits(to_bits);
  if (to_bits > from_bits) throw_invalid(fmt::format("cannot slice {}-bit MX codes to {} bits", from_bits, to_bits));
  const double scaled = std::ldexp(double(code), to_bits - from_bits);
  return int(std::clamp(round_half_away(scaled), double(-max_code(to_bits)), double(max_code(to_bits))));
}

namespace {

// Element codes (float64, blocked [..., blocks, b]) and block exponents ([..., blocks, 1]) of
// `values`. floor(log2(m)) is taken from frexp (m = f * 2^k, f in [0.5, 1): k - 1), which is exact
// where CUDA's log2 may land one ulp below an exact power of two; a block whose maximum is zero or
// NaN takes the smallest exponent, -127, as E8M0 bounds it below.
std::pair<at::Tensor, at::Tensor> blocked_codes(const at::Tensor& values, const MxFormat& format, bool check) {
  check_bits(format.element_bits);
  if (format.block_size < 1) throw_invalid("MX block size must be positive");
  if (values.dim() < 1 || values.size(-1) == 0) throw_invalid("MX quantization needs a non-empty last dimension");
  const at::Tensor blocked = to_blocks(values.detach().to(at::kDouble), format.block_size);
  const at::Tensor absmax = std::get<0>(blocked.abs().max(-1, /*keepdim=*/true));
  if (check && !at::isfinite(absmax).all().item<bool>()) throw_invalid("MX quantization of a tensor holding NaN or Inf");
  const at::Tensor floor_log2 = std::get<1>(at::frexp(absmax)).to(at::kDouble) - 1.0;
  const at::Tensor e = at::where(absmax > 0, floor_log2, at::full({}, double(kMxMinExponent), absmax.options()))
                           .clamp_min(double(kMxMinExponent));
  if (check && e.numel() > 0 && e.max().item<double>() > kMxMaxExponent) {
    throw_invalid("MX quantization: a block's largest value is beyond MX's largest scale 2^127");
  }
  const int64_t bound = max_code(format.element_bits);
  const at::Tensor scaled = blocked * at::exp2(double(format.element_bits - 2) - e);
  return {round_half_away(scaled).clamp(-double(bound), double(bound)), e};
}

}  // namespace

MxCodes mx_quantize(const at::Tensor& values, const MxFormat& format) {
  const auto [codes, e] = blocked_codes(values, format, /*check=*/true);
  MxCodes out;
  out.codes = from_blocks(codes, values.size(-1)).to(at::kChar);
  out.exponents = e.squeeze(-1).to(at::kShort);
  out.format = format;
  return out;
}

at::Tensor mx_fake_quantize_unchecked(const at::Tensor& values, const MxFormat& format) {
  const auto [codes, e] = blocked_codes(values, format, /*check=*/false);
  return from_blocks(codes * at::exp2(e - double(format.element_bits - 2)), values.size(-1)).to(values.scalar_type());
}

at::Tensor MxCodes::dequantize(at::ScalarType dtype) const {
  const at::Tensor blocked = to_blocks(codes.to(at::kDouble), format.block_size);
  const at::Tensor scale = at::exp2(exponents.to(at::kDouble) - double(format.element_bits - 2)).unsqueeze(-1);
  return from_blocks(blocked * scale, codes.size(-1)).to(dtype);
}

at::Tensor mx_fake_quantize(const at::Tensor& values, const MxFormat& format) {
  return mx_quantize(values, format).dequantize(values.scalar_type());
}

MxCodes slice_mx_codes(const MxCodes& from, int to_bits) {
  check_bits(to_bits);
  if (to_bits > from.format.element_bits) {
    throw_invalid(fmt::format("cannot slice {} codes to {} bits", from.format.name(), to_bits));
  }
  const int64_t bound = max_code(to_bits);
  const at::Tensor scaled = from.codes.to(at::kDouble) * std::ldexp(1.0, to_bits - from.format.element_bits);
  MxCodes out;
  out.codes = round_half_away(scaled).clamp(-double(bound), double(bound)).to(at::kChar);
  out.exponents = from.exponents;
  out.format = {to_bits, from.format.block_size};
  return out;
}

}  // namespace matquant::quant
