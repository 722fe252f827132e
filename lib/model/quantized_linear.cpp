#include "model/quantized_linear.h"

#include "common/error.h"
#include "kernels/fused_ops.h"
#include "kernels/master_weight_ops.h"
#include "kernels/projection_stash.h"
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

void QuantizedLinearImpl::set_weight_override(at::Tensor w, at::Tensor b) {
  if (!w.defined() || w.sizes() != weight.sizes()) {
    throw Error(ErrorCode::kInternal, "weight override must have the weight's shape");
  }
  if (codes_) throw Error(ErrorCode::kInternal, "weight override on a layer whose codes are frozen");
  weight_override_ = std::move(w);
  bias_override_ = std::move(b);
}

void QuantizedLinearImpl::clear_weight_override() {
  weight_override_ = at::Tensor();
  bias_override_ = at::Tensor();
}

int64_t QuantizedLinearImpl::release_for_packed_serving() {
  int64_t bytes = weight.numel() * int64_t(weight.element_size());
  if (codes_) bytes += codes_->codes.numel() * int64_t(codes_->codes.element_size());
  for (const auto& [r, w] : dequantized_cache_) bytes += w.numel() * int64_t(w.element_size());
  {
    c10::NoGradGuard no_grad;
    weight.set_data(at::empty({0}, weight.options()));
  }
  codes_.reset();
  mx_codes_.reset();
  dequantized_cache_.clear();
  released_ = true;
  return bytes;
}

at::Tensor QuantizedLinearImpl::effective_weight() {
  if (released_) throw Error(ErrorCode::kInternal, "this projection's weight was released for packed serving");
  const at::Tensor& source = weight_override_.defined() ? weight_override_ : weight;
  if (!quantizer_ || !precision_) return source;
  const int r = *precision_;
  if (mx_codes_) {
    auto it = dequantized_cache_.find(r);
    if (it == dequantized_cache_.end()) {
      const quant::MxCodes& stored = *mx_codes_;
      const quant::MxCodes served = r == stored.format.element_bits ? stored : quant::slice_mx_codes(stored, r);
      it = dequantized_cache_.emplace(r, served.dequantize(weight.scalar_type()).to(weight.device())).first;
    }
    return it->second;
  }
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
  if (quantizer_->mx_block_size > 0) {
    // MXINT has no straight-through path: it is only rounded to (post-training bases), not trained.
    const quant::MxCodes rounded = quant::mx_quantize(source, {quantizer_->source_bits, quantizer_->mx_block_size});
    return (r == quantizer_->source_bits ? rounded : quant::slice_mx_codes(rounded, r)).dequantize(source.scalar_type());
  }
  if (!clipping && kernels::fused_kernels_enabled(source)) {
    // MinMax parameters are detached here, so the fused kernel's straight-through backward is the
    // whole gradient (bit-identical to the composition below; tests/unit/model/test_fused_kernels.cpp).
    return kernels::fake_quantize_minmax(source, quantizer_->group_size, quantizer_->source_bits, r,
                                         quantizer_->slice_mode == quant::SliceMode::kExtraPrecision);
  }
  if (clipping && kernels::fake_quantize_clipped_applies(source, clipping->upper_logit, clipping->lower_logit,
                                                         quantizer_->group_size)) {
    // OmniQuant's step: the clipping logits' gradients (and the weight's, under LET) from one kernel
    // each way instead of the composition below (tests/unit/model/test_fused_kernels.cpp).
    return kernels::fake_quantize_clipped(source, clipping->upper_logit, clipping->lower_logit,
                                          quantizer_->group_size, quantizer_->source_bits, r,
                                          quantizer_->slice_mode == quant::SliceMode::kExtraPrecision);
  }
  const quant::FakeQuantSpec spec{quantizer_->source_bits, r, quantizer_->slice_mode,
                                  quantizer_->group_size};
  // Scales and zero points are computed in fp32 even for bf16 weights.
  const at::Tensor w32 = source.to(at::kFloat);
  const at::Tensor grouped = quant::to_groups(w32, quantizer_->group_size);
  const quant::AffineParams params =
      clipping ? clipping->params(grouped, quantizer_->source_bits)
               : quant::minmax_params(grouped.detach(), quantizer_->source_bits);
  return quant::fake_quantize(w32, params, spec).to(source.scalar_type());
}

void QuantizedLinearImpl::record_input_absmax(bool on) {
  if (on) input_absmax_ = at::Tensor();
  recording_input_ = on;
}

bool QuantizedLinearImpl::plain_master_weight_path() const {
  return !released_ && !bias.defined() && !weight_override_.defined() && !activation_quantizer_ && !codes_ &&
         !mx_codes_ && !clipping && (!quantizer_ || quantizer_->mx_block_size == 0);
}

std::optional<std::array<int64_t, 4>> QuantizedLinearImpl::joint_master_projection() const {
  if (recording_input_ || input_observer_ || !plain_master_weight_path() || !kernels::master_weight_training(weight) ||
      kernels::recording_projection_stash()) {
    return std::nullopt;
  }
  if (!quantizer_ || !precision_) return std::array<int64_t, 4>{0, 0, 0, 0};
  return std::array<int64_t, 4>{quantizer_->group_size, quantizer_->source_bits, *precision_,
                                quantizer_->slice_mode == quant::SliceMode::kExtraPrecision ? 1 : 0};
}

std::vector<at::Tensor> project_jointly(const at::Tensor& x, const std::vector<QuantizedLinearImpl*>& projections) {
  std::vector<at::Tensor> weights;
  std::vector<std::array<int64_t, 4>> quantizers;
  for (QuantizedLinearImpl* p : projections) {
    const auto spec = p->joint_master_projection();
    if (!spec) {
      std::vector<at::Tensor> outputs;
      for (QuantizedLinearImpl* each : projections) outputs.push_back(each->forward(x));
      return outputs;
    }
    weights.push_back(p->weight);
    quantizers.push_back(*spec);
  }
  return kernels::master_linears(x, weights, quantizers);
}

at::Tensor QuantizedLinearImpl::forward(const at::Tensor& x) {
  if (recording_input_) {
    c10::NoGradGuard no_grad;
    const at::Tensor m = std::get<0>(x.detach().abs().to(at::kFloat).reshape({-1, x.size(-1)}).max(0));
    input_absmax_ = input_absmax_.defined() ? at::maximum(input_absmax_, m) : m;
  }
  if (input_observer_) input_observer_(x);
  // QAT under bf16 autocast on fp32 master weights: the gradient goes straight into weight.grad
  // (kernels/master_weight_ops.h). Biases, overrides, frozen codes, learnable clipping, MX and
  // activation quantization keep the composed path below.
  const bool plain_master_weight = plain_master_weight_path();
  if (plain_master_weight && kernels::master_weight_training(weight)) {
    if (!quantizer_ || !precision_) return kernels::master_linear(x, weight);
    return kernels::quantized_master_linear(x, weight, quantizer_->group_size, quantizer_->source_bits, *precision_,
                                            quantizer_->slice_mode == quant::SliceMode::kExtraPrecision);
  }
  // The same weights in a forward that records nothing (activation checkpointing's first pass).
  if (plain_master_weight && kernels::autocast_forward_only(weight)) {
    if (!quantizer_ || !precision_) return kernels::autocast_linear_forward(x, weight);
    return kernels::autocast_quantized_linear_forward(x, weight, quantizer_->group_size, quantizer_->source_bits,
                                                      *precision_,
                                                      quantizer_->slice_mode == quant::SliceMode::kExtraPrecision);
  }
  const at::Tensor input = activation_quantizer_ ? activation_quantizer_->apply(x) : x;
  const at::Tensor w = effective_weight();
  const at::Tensor& b = weight_override_.defined() ? bias_override_ : bias;
  return b.defined() ? at::linear(input, w, b) : at::linear(input, w);
}

void QuantizedLinearImpl::freeze_codes() {
  if (!quantizer_) throw Error(ErrorCode::kInternal, "freeze_codes on a layer without quantizer");
  c10::NoGradGuard no_grad;
  const at::Tensor w32 = weight.to(at::kFloat);
  std::optional<quant::AffineParams> params;
  if (quantizer_->mx_block_size > 0) {
    load_mx_codes(quant::mx_quantize(w32, {quantizer_->source_bits, quantizer_->mx_block_size}));
    return;
  }
  if (clipping) {
    params = clipping->params(quant::to_groups(w32, quantizer_->group_size), quantizer_->source_bits);
  }
  codes_ = quant::NestedCodes::quantize(w32, quantizer_->source_bits, quantizer_->group_size, params);
  dequantized_cache_.clear();
}

void QuantizedLinearImpl::load_mx_codes(quant::MxCodes codes) {
  if (codes.codes.sizes() != weight.sizes()) {
    throw_invalid(fmt::format("MX code tensor shape [{}, {}] does not match weight [{}, {}]", codes.codes.size(0),
                              codes.codes.size(1), weight.size(0), weight.size(1)));
  }
  QuantizerConfig config;
  config.source_bits = codes.format.element_bits;
  config.mx_block_size = codes.format.block_size;
  if (!quantizer_ || quantizer_->mx_block_size != config.mx_block_size ||
      quantizer_->source_bits != config.source_bits) {
    enable_quantizer(config);
  }
  codes_.reset();
  mx_codes_ = std::move(codes);
  dequantized_cache_.clear();
}

void QuantizedLinearImpl::set_activation_quantizer(std::optional<quant::ActivationQuantizer> quantizer) {
  if (quantizer) *quantizer = quantizer->to(weight.device());
  activation_quantizer_ = std::move(quantizer);
}

void QuantizedLinearImpl::load_codes(quant::NestedCodes codes) {
  if (codes.codes.sizes() != weight.sizes()) {
    throw_invalid(fmt::format("code tensor shape [{}, {}] does not match weight [{}, {}]",
                              codes.codes.size(0), codes.codes.size(1), weight.size(0),
                              weight.size(1)));
  }
  if (!quantizer_) enable_quantizer(QuantizerConfig{codes.bits, codes.group_size});
  mx_codes_.reset();
  codes_ = std::move(codes);
  dequantized_cache_.clear();
}

}  // namespace matquant::model
