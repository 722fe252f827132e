#pragma once
// The differentiable path used in training: quantize to c bits, slice to r bits, dequantize,
// with straight-through estimators on both roundings.
#include "quant/minmax.h"
#include "quant/slicing.h"

namespace matquant::quant {

struct FakeQuantSpec {
  int source_bits = 8;  // c
  int target_bits = 8;  // r
  SliceMode mode = SliceMode::kClamped;
  int64_t group_size = 0;
};

// weight: [out, in]; params computed on to_groups(weight, spec.group_size).
at::Tensor fake_quantize(const at::Tensor& weight, const AffineParams& params,
                         const FakeQuantSpec& spec);

}  // namespace matquant::quant
