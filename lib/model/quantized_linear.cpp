#include "model/quantized_linear.h"

#include "common/error.h"
#include "quant/fake_quant.h"

#include <c10/core/GradMode.h>
#include <fmt/format.h>

namespace matquant::model {

QuantizedLinearImpl::QuantizedLinearImpl(int64_t in_features, int64_t out_features, bool bias_on) {
  weight = register_parameter("weight", at::empty({out_features, in_features}));
  if (bias_on) bias = register_parameter("bias", at::zeros({out_features}));
}

void QuantizedLinearImpl::enable_quantizer(const QuantizerConfig& config) {
  quant::group_count(weight.size(1), config.group_size);  // validates the group size
  quantizer_ = config;
  if (config.learnable_clipping && !clipping) {
    clipping = register_module(
        "clipping", quant::LearnableClipping(weight.size(0),
                                             quant::group_count(weight.size(1), config.group_size)));
    clipping->to(weight.device());
  }
  dequantized_cache_.clear();
}

void QuantizedLinearImpl::set_precision(std::optional<int> bits) {
  if (bits && quantizer_ && (*bits < 1 || *bits > quantizer_->source_bits)) {
    throw_invalid(fmt::format("precision {} is outside 1..{} (the stored code width)", *bits,
                              quantizer_->source_bits));
  }
  precision_ = bits;
}

at::Tensor QuantizedLinearImpl::effective_weight() {
  if (!quantizer_ || !precision_) return weight;
  const int r = *precision_;
  if (codes_) {
    auto it = dequantized_cache_.find(r);
    if (it == dequantized_cache_.end()) {
      it = dequantized_cache_
               .emplace(r, codes_->to(weight.device()).dequantize(r, quantizer_->slice_mode,
                                                                  weight.scalar_type()))
               .first;
    }
    return it->second;
  }
  const quant::FakeQuantSpec spec{quantizer_->source_bits, r, quantizer_->slice_mode,
                                  quantizer_->group_size};
  // Scales and zero points are computed in fp32 even for bf16 weights.
  const at::Tensor w32 = weight.to(at::kFloat);
  const at::Tensor grouped = quant::to_groups(w32, quantizer_->group_size);
  const quant::AffineParams params =
      clipping ? clipping->params(grouped, quantizer_->source_bits)
               : quant::minmax_params(grouped.detach(), quantizer_->source_bits);
  return quant::fake_quantize(w32, params, spec).to(weight.scalar_type());
}

at::Tensor QuantizedLinearImpl::forward(const at::Tensor& x) {
  const at::Tensor w = effective_weight();
  return bias.defined() ? at::linear(x, w, bias) : at::linear(x, w);
}

void QuantizedLinearImpl::freeze_codes() {
  if (!quantizer_) throw Error(ErrorCode::kInternal, "freeze_codes on a layer without quantizer");
  c10::NoGradGuard no_grad;
  const at::Tensor w32 = weight.to(at::kFloat);
  std::optional<quant::AffineParams> params;
  if (clipping) {
    params = clipping->params(quant::to_groups(w32, quantizer_->group_size), quantizer_->source_bits);
  }
  codes_ = quant::NestedCodes::quantize(w32, quantizer_->source_bits, quantizer_->group_size, params);
  dequantized_cache_.clear();
}

void QuantizedLinearImpl::load_codes(quant::NestedCodes codes) {
  if (codes.codes.sizes() != weight.sizes()) {
    throw_invalid(fmt::format("code tensor shape [{}, {}] does not match weight [{}, {}]",
                              codes.codes.size(0), codes.codes.size(1), weight.size(0),
                              weight.size(1)));
  }
  if (!quantizer_) enable_quantizer(QuantizerConfig{codes.bits, codes.group_size});
  codes_ = std::move(codes);
  dequantized_cache_.clear();
}

}  // namespace matquant::model
