#pragma once
// MinMax asymmetric quantization (paper Eq. 1) on a grouped weight layout.
//
// A weight W of shape [out, in] is viewed as [out, in/G, G]: G input columns share one scale and
// zero point (group_size = 0 means one group per output channel, G = in). Codes are integers in
// [0, 2^c - 1] held in floating tensors while training and as uint8 in the nested store.
#include <ATen/ATen.h>

namespace matquant::quant {

// OmniQuant clamps scales to [1e-5, 1e4] (OmniQuant, quantize/quantizer.py, CLIPMIN).
inline constexpr double kMinScale = 1e-5;
inline constexpr double kMaxScale = 1e4;

struct AffineParams {
  at::Tensor scale;       // [out, groups, 1]
  at::Tensor zero_point;  // [out, groups, 1], integer-valued (rounded)
};

int64_t group_count(int64_t in_features, int64_t group_size);
// [out, in] -> [out, groups, G]; throws when in is not a multiple of G.
at::Tensor to_groups(const at::Tensor& weight, int64_t group_size);
// [out, groups, G] -> [out, groups * G]
at::Tensor from_groups(const at::Tensor& grouped);

// scale = (xmax - xmin) / (2^c - 1), zero = round(-xmin / scale). Differentiable in xmin/xmax
// through the scale; the zero point is rounded without a straight-through path, as OmniQuant does.
AffineParams affine_params_from_range(const at::Tensor& xmin, const at::Tensor& xmax, int bits);

// Eq. 1: range of each group of the grouped weight.
AffineParams minmax_params(const at::Tensor& grouped, int bits);

// q = clamp(round(w / scale) + zero, 0, 2^c - 1). Rounding is round-half-to-even (torch.round),
// as in the OmniQuant reference. The _ste variant passes gradients straight through the rounding.
at::Tensor quantize_codes(const at::Tensor& grouped, const AffineParams& params, int bits);
at::Tensor quantize_codes_ste(const at::Tensor& grouped, const AffineParams& params, int bits);

// w_hat = (q - zero) * scale
at::Tensor dequantize_codes(const at::Tensor& codes, const AffineParams& params);

// round(x) in the forward pass, identity in the backward pass.
at::Tensor round_ste(const at::Tensor& x);

}  // namespace matquant::quant
