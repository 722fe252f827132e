#pragma once
// The nested code store: one c-bit code tensor (uint8, c <= 8) with per-channel or per-group
// scales and zero points. Every r <= c model is a view computed by slicing (Eq. 6 or Eq. 8).
#include "quant/minmax.h"
#include "quant/slicing.h"

#include <optional>

namespace matquant::quant {

struct NestedCodes {
  at::Tensor codes;       // uint8 [out, in]
  at::Tensor scale;       // float32 [out, groups]
  at::Tensor zero_point;  // float32 [out, groups], integer-valued
  int bits = 8;           // c
  int64_t group_size = 0; // 0 = per output channel

  // Quantizes with the given affine parameters (e.g. learned clipping) or MinMax when absent.
  static NestedCodes quantize(const at::Tensor& weight, int bits, int64_t group_size,
                              const std::optional<AffineParams>& params = std::nullopt);

  // Dequantized [out, in] weight of the r-bit slice, on the codes' device, in dtype.
  at::Tensor dequantize(int to_bits, SliceMode mode = SliceMode::kClamped,
                        at::ScalarType dtype = at::kFloat) const;

  // Sliced integer codes in c-bit units (int16 so the extra-precision top level 2^c fits).
  at::Tensor sliced_codes(int to_bits, SliceMode mode = SliceMode::kClamped) const;

  NestedCodes to(const at::Device& device) const;
  int64_t out_features() const { return codes.size(0); }
  int64_t in_features() const { return codes.size(1); }
};

}  // namespace matquant::quant
