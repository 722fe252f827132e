#include "quant/activation_quant.h"

#include "common/error.h"
#include "kernels/fused_ops.h"
#include "quant/mx_format.h"

#include <fmt/format.h>

#include <limits>

namespace matquant::quant {

namespace {

at::Tensor channel_rows(const at::Tensor& inputs) {
  return inputs.detach().to(at::kFloat).reshape({-1, inputs.size(-1)});
}

}  // namespace

void ActivationRangeObserver::add(const at::Tensor& inputs) {
  if (inputs.dim() < 1 || inputs.numel() == 0) return;
  const at::Tensor rows = channel_rows(inputs);
  const at::Tensor lo = std::get<0>(rows.min(0));
  const at::Tensor hi = std::get<0>(rows.max(0));
  if (min_.defined() && min_.size(0) != lo.size(0)) {
    throw Error(ErrorCode::kInternal, "activation observer saw inputs of different widths");
  }
  min_ = min_.defined() ? at::minimum(min_, lo) : lo;
  max_ = max_.defined() ? at::maximum(max_, hi) : hi;
}

ActivationQuantizer ActivationQuantizer::from_range(const WeightFormat& format, const at::Tensor& min,
                                                    const at::Tensor& max) {
  if (format.kind != WeightFormat::Kind::kInt) throw Error(ErrorCode::kInternal, "from_range needs an INT format");
  if (!min.defined() || !max.defined()) {
    throw_invalid("activation quantization to " + format.name() + " needs calibration inputs (none reached a projection)");
  }
  const double levels = double((int64_t(1) << format.bits) - 1);
  const at::Tensor lo = at::clamp_max(min.to(at::kFloat), 0.0);
  const at::Tensor hi = at::clamp_min(max.to(at::kFloat), 0.0);
  ActivationQuantizer q;
  q.format = format;
  q.scale = at::clamp_min((hi - lo) / levels, double(std::numeric_limits<float>::epsilon()));
  q.zero_point = at::clamp(-at::round(lo / q.scale), 0.0, levels);
  q.inverse = at::reciprocal(q.scale);
  return q;
}

ActivationQuantizer ActivationQuantizer::dynamic(const WeightFormat& format) {
  if (format.kind != WeightFormat::Kind::kMxInt) {
    throw_invalid("activation format " + format.name() + " is static: it needs a calibrated range");
  }
  ActivationQuantizer q;
  q.format = format;
  return q;
}

ActivationQuantizer ActivationQuantizer::to(const at::Device& device) const {
  ActivationQuantizer out = *this;
  if (scale.defined()) out.scale = scale.to(device);
  if (zero_point.defined()) out.zero_point = zero_point.to(device);
  if (inverse.defined()) out.inverse = inverse.to(device);
  return out;
}

at::Tensor ActivationQuantizer::apply(const at::Tensor& x) const {
  if (is_static() && x.size(-1) != scale.size(0)) {
    throw Error(ErrorCode::kInternal, fmt::format("activation quantizer for {} channels given {}", scale.size(0), x.size(-1)));
  }
  // One CUDA kernel, bit-identical to the compositions below (ActivationQuant.KernelsEqualTheAtenPath).
  if (kernels::fused_kernels_enabled(x) && (!is_static() || x.device() == scale.device())) {
    return is_static() ? kernels::fake_quantize_activations_static(x, inverse, scale, zero_point, format.bits)
                       : kernels::fake_quantize_activations_mx(x, format.bits, format.block_size);
  }
  if (!is_static()) return mx_fake_quantize_unchecked(x, {format.bits, format.block_size});
  const double levels = double((int64_t(1) << format.bits) - 1);
  const at::Tensor x32 = x.to(at::kFloat);
  // torch computes the inverse scale in float32 and multiplies (not divides): the same ties.
  const at::Tensor codes = at::clamp(at::round(x32 * inverse) + zero_point, 0.0, levels);
  return ((codes - zero_point) * scale).to(x.scalar_type());
}

}  // namespace matquant::quant
