#pragma once
// Activation quantization (seed 004's "A:8" rows): the input of every projection in scope is
// fake-quantized before its matmul, in one of two ways.
//   INTd, static: per input channel (the last dimension), asymmetric affine with unsigned d-bit
//     codes, the range from a MinMax observer over calibration inputs. The parameters follow
//     torch.ao.quantization's PerChannelMinMaxObserver (quint8, per_channel_affine): the range is
//     widened to include 0, scale = max((max - min) / (2^d - 1), float32 eps),
//     zero = clamp(-round(min / scale), 0, 2^d - 1); and torch.fake_quantize_per_channel_affine's
//     arithmetic: x_hat = (clamp(nearbyint(x * (1 / scale)) + zero, 0, 2^d - 1) - zero) * scale.
//   MXINTd-b, dynamic: every token's row in blocks of b channels (the last dimension, as seed 004
//     blocks every tensor), each block's shared exponent taken from the values themselves.
// Computed in float32 and returned in the input's dtype. No gradient is defined (evaluation only).
// On CUDA one fused kernel does either (lib/kernels/activation_quant.cu), bit-identical to the ATen
// compositions here.
#include "quant/weight_format.h"

#include <ATen/ATen.h>

namespace matquant::quant {

// Running per-channel minimum and maximum over the last dimension of every input added.
class ActivationRangeObserver {
 public:
  void add(const at::Tensor& inputs);
  const at::Tensor& min() const { return min_; }  // float32 [channels]; undefined before add
  const at::Tensor& max() const { return max_; }
  bool empty() const { return !min_.defined(); }

 private:
  at::Tensor min_, max_;
};

struct ActivationQuantizer {
  WeightFormat format;
  at::Tensor scale;       // INT only: float32 [channels]
  at::Tensor zero_point;  // INT only: float32 [channels], integer-valued
  at::Tensor inverse;     // INT only: float32 1 / scale, as torch multiplies by it

  bool is_static() const { return format.kind == WeightFormat::Kind::kInt; }
  // The INT parameters from an observed range (torch.ao's rule above).
  static ActivationQuantizer from_range(const WeightFormat& format, const at::Tensor& min, const at::Tensor& max);
  // MXINT needs no calibration.
  static ActivationQuantizer dynamic(const WeightFormat& format);

  at::Tensor apply(const at::Tensor& x) const;
  ActivationQuantizer to(const at::Device& device) const;
};


}  // namespace matquant::quant
