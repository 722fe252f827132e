#include "quant/minmax.h"

#include "common/error.h"

#include <fmt/format.h>

namespace matquant::quant {

int64_t group_count(int64_t in_features, int64_t group_size) {
  if (group_size < 0) throw_invalid(fmt::format("group size must be >= 0, got {}", group_size));
  if (group_size == 0) return 1;
  if (in_features % group_size != 0) {
    throw_invalid(fmt::format("group size {} does not divide the {} input columns", group_size,
                              in_features));
  }
  return in_features / group_size;
}

at::Tensor to_groups(const at::Tensor& weight, int64_t group_size) {
  if (weight.dim() != 2) {
    throw_invalid(fmt::format("expected a 2-D weight [out, in], got {} dimensions", weight.dim()));
  }
  const int64_t out = weight.size(0);
  const int64_t in = weight.size(1);
  const int64_t groups = group_count(in, group_size);
  return weight.reshape({out, groups, in / groups});
}

at::Tensor from_groups(const at::Tensor& grouped) {
  return grouped.reshape({grouped.size(0), grouped.size(1) * grouped.size(2)});
}

static double max_code(int bits) {
  if (bits < 1 || bits > 16) throw_invalid(fmt::format("bit width must be in 1..16, got {}", bits));
  return static_cast<double>((int64_t{1} << bits) - 1);
}

AffineParams affine_params_from_range(const at::Tensor& xmin, const at::Tensor& xmax, int bits) {
  const double qmax = max_code(bits);
  at::Tensor scale = ((xmax - xmin) / qmax).clamp(kMinScale, kMaxScale);
  at::Tensor zero = (-xmin / scale).clamp(-1e4, 1e4).round();
  return {scale, zero.detach()};
}

AffineParams minmax_params(const at::Tensor& grouped, int bits) {
  at::Tensor xmin = std::get<0>(grouped.min(/*dim=*/-1, /*keepdim=*/true));
  at::Tensor xmax = std::get<0>(grouped.max(/*dim=*/-1, /*keepdim=*/true));
  return affine_params_from_range(xmin, xmax, bits);
}

at::Tensor round_ste(const at::Tensor& x) { return (x.round() - x).detach() + x; }

at::Tensor quantize_codes(const at::Tensor& grouped, const AffineParams& params, int bits) {
  return ((grouped / params.scale).round() + params.zero_point).clamp(0.0, max_code(bits));
}

at::Tensor quantize_codes_ste(const at::Tensor& grouped, const AffineParams& params, int bits) {
  return (round_ste(grouped / params.scale) + params.zero_point).clamp(0.0, max_code(bits));
}

at::Tensor dequantize_codes(const at::Tensor& codes, const AffineParams& params) {
  return (codes - params.zero_point) * params.scale;
}

}  // namespace matquant::quant
