#include "quant/fake_quant.h"

namespace matquant::quant {

at::Tensor fake_quantize(const at::Tensor& weight, const AffineParams& params,
                         const FakeQuantSpec& spec) {
  const at::Tensor grouped = to_groups(weight, spec.group_size);
  at::Tensor codes = quantize_codes_ste(grouped, params, spec.source_bits);
  codes = slice_codes_ste(codes, spec.source_bits, spec.target_bits, spec.mode);
  return from_groups(dequantize_codes(codes, params));
}

}  // namespace matquant::quant
