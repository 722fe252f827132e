#include "train/equivalent_transformation.h"

#include "common/error.h"

#include <c10/core/GradMode.h>

namespace matquant::train {

namespace {

// OmniQuant's truncate_number (models/transformation.py): values with |s| < threshold become
// sign(s) * threshold in the forward pass, the gradient passes straight through.
at::Tensor truncated(const at::Tensor& s) {
  const at::Tensor sign = at::where(s.lt(0), at::full_like(s, -1.0), at::full_like(s, 1.0));
  const at::Tensor t = at::where(s.abs().lt(kMinimumScale), sign * kMinimumScale, s);
  return s + (t - s).detach();
}

// A norm-fed pair: the norm's output divided by s is the norm with weight w / s
// (Gemma-2's (1 + w) form: (1 + w) / s - 1).
at::Tensor divided_norm(const model::DecoderLayerImpl& layer, const at::Tensor& weight, const at::Tensor& s) {
  const at::Tensor w = weight.to(at::kFloat);
  const at::Tensor out = layer.config->norm_adds_one ? (1.0 + w) / s - 1.0 : w / s;
  return out.to(weight.scalar_type());
}

// v_proj has kv_heads * d output channels; o_proj's input has heads * d, query head h reading kv
// head h / (heads / kv_heads) (repeat_interleave, as SDPA's enable_gqa and the eager path do).
at::Tensor expand_to_heads(const model::DecoderLayerImpl& layer, const at::Tensor& per_kv_channel) {
  const auto& c = *layer.config;
  const int64_t repeat = c.num_attention_heads / c.num_key_value_heads;
  return per_kv_channel.view({c.num_key_value_heads, c.head_dim}).repeat_interleave(repeat, 0).reshape({-1});
}

at::Tensor reduce_to_kv_heads(const model::DecoderLayerImpl& layer, const at::Tensor& per_head_channel) {
  const auto& c = *layer.config;
  const int64_t repeat = c.num_attention_heads / c.num_key_value_heads;
  return std::get<0>(per_head_channel.view({c.num_key_value_heads, repeat, c.head_dim}).max(1)).reshape({-1});
}

std::map<std::string, model::QuantizedLinear> linears_of(model::DecoderLayerImpl& layer) {
  return {{"q_proj", layer.q_proj},     {"k_proj", layer.k_proj},   {"v_proj", layer.v_proj},
          {"o_proj", layer.o_proj},     {"gate_proj", layer.gate_proj}, {"up_proj", layer.up_proj},
          {"down_proj", layer.down_proj}};
}

const char* const kConsumers[][3] = {
    {"q_proj", "k_proj", "v_proj"}, {"o_proj", nullptr, nullptr}, {"gate_proj", "up_proj", nullptr},
    {"down_proj", nullptr, nullptr}};
constexpr SmoothingPair kPairs[] = {SmoothingPair::kAttentionInput, SmoothingPair::kValueOutput,
                                    SmoothingPair::kFfnInput, SmoothingPair::kUpDown};

}  // namespace

std::string to_string(SmoothingPair pair) {
  switch (pair) {
    case SmoothingPair::kAttentionInput: return "attention_input";
    case SmoothingPair::kValueOutput: return "value_output";
    case SmoothingPair::kFfnInput: return "ffn_input";
    case SmoothingPair::kUpDown: return "up_down";
  }
  return "?";
}

EquivalentTransformationImpl::EquivalentTransformationImpl(model::DecoderLayerImpl& layer) {
  auto linears = linears_of(layer);
  const auto options = at::TensorOptions().dtype(at::kFloat).device(layer.input_layernorm.device());
  for (size_t i = 0; i < 4; ++i) {
    bool quantized = false;
    for (const char* name : kConsumers[i]) {
      if (name && linears.at(name)->has_quantizer()) quantized = true;
    }
    if (!quantized) continue;  // nothing this pair feeds is quantized: it cannot change the error
    const SmoothingPair pair = kPairs[i];
    const int64_t channels = pair == SmoothingPair::kValueOutput ? layer.v_proj->weight.size(0)
                             : pair == SmoothingPair::kUpDown    ? layer.up_proj->weight.size(0)
                                                                 : layer.input_layernorm.size(0);
    scales_[pair] = register_parameter(to_string(pair) + "_scale", at::ones({channels}, options));
    if (pair == SmoothingPair::kValueOutput && layer.v_proj->bias.defined() && layer.o_proj->bias.defined()) {
      shifts_[pair] = register_parameter(to_string(pair) + "_shift", at::zeros({channels}, options));
    }
  }
}

void EquivalentTransformationImpl::record_inputs(model::DecoderLayerImpl& layer, bool on) {
  for (auto& [name, linear] : linears_of(layer)) linear->record_input_absmax(on);
}

void EquivalentTransformationImpl::initialize_scales(model::DecoderLayerImpl& layer, double alpha) {
  c10::NoGradGuard no_grad;
  auto linears = linears_of(layer);
  for (size_t i = 0; i < 4; ++i) {
    if (!active(kPairs[i])) continue;
    // Consumers of one pair share their input, so the first one's statistics serve.
    const auto& first = linears.at(kConsumers[i][0]);
    at::Tensor act = first->input_absmax();
    if (!act.defined()) {
      throw Error(ErrorCode::kInternal, "LET initialisation needs recorded inputs of " + std::string(kConsumers[i][0]));
    }
    std::vector<at::Tensor> weights;
    for (const char* name : kConsumers[i]) {
      if (name) weights.push_back(linears.at(name)->weight.detach().to(at::kFloat).abs());
    }
    at::Tensor wmax = std::get<0>(at::cat(weights, 0).max(0));
    if (kPairs[i] == SmoothingPair::kValueOutput) {
      act = reduce_to_kv_heads(layer, act);
      wmax = reduce_to_kv_heads(layer, wmax);
    }
    const at::Tensor s = (act.clamp_min(1e-5).pow(alpha) / wmax.clamp_min(1e-5).pow(1.0 - alpha)).clamp_min(1e-5);
    scales_.at(kPairs[i]).copy_(s);
  }
}

EquivalentTransformationImpl::Transformed EquivalentTransformationImpl::transformed(
    model::DecoderLayerImpl& layer) const {
  Transformed out;
  auto linears = linears_of(layer);
  // Working copies in fp32: (weight, bias) per linear, starting from the stored ones.
  auto entry = [&](const std::string& name) -> std::pair<at::Tensor, at::Tensor>& {
    auto it = out.linears.find(name);
    if (it == out.linears.end()) {
      const auto& l = linears.at(name);
      it = out.linears.emplace(name, std::make_pair(l->weight.to(at::kFloat),
                                                    l->bias.defined() ? l->bias.to(at::kFloat) : at::Tensor()))
               .first;
    }
    return it->second;
  };
  auto scale_columns = [&](const std::string& name, const at::Tensor& s) {
    auto& [w, b] = entry(name);
    w = w * s.view({1, -1});
  };
  auto divide_rows = [&](const std::string& name, const at::Tensor& s, const at::Tensor& shift) {
    auto& [w, b] = entry(name);
    w = w / s.view({-1, 1});
    if (b.defined()) b = (shift.defined() ? b - shift : b) / s;
  };
  if (active(SmoothingPair::kAttentionInput)) {
    const at::Tensor s = truncated(scales_.at(SmoothingPair::kAttentionInput));
    out.attention_norm = divided_norm(layer, layer.attention_input_norm(), s);
    for (const char* name : {"q_proj", "k_proj", "v_proj"}) scale_columns(name, s);
  }
  if (active(SmoothingPair::kValueOutput)) {
    const at::Tensor s = truncated(scales_.at(SmoothingPair::kValueOutput));
    const at::Tensor shift = has_shift(SmoothingPair::kValueOutput) ? shifts_.at(SmoothingPair::kValueOutput)
                                                                    : at::Tensor();
    // Attention rows are convex combinations of value rows, so (v - shift) / s passes through
    // attention unchanged in form; o_proj undoes it: W_o * s on columns, b_o + W_o shift.
    divide_rows("v_proj", s, shift);
    auto& [wo, bo] = entry("o_proj");
    if (shift.defined()) bo = bo + at::matmul(wo, expand_to_heads(layer, shift));
    wo = wo * expand_to_heads(layer, s).view({1, -1});
  }
  if (active(SmoothingPair::kFfnInput)) {
    const at::Tensor s = truncated(scales_.at(SmoothingPair::kFfnInput));
    out.ffn_norm = divided_norm(layer, layer.ffn_input_norm(), s);
    for (const char* name : {"gate_proj", "up_proj"}) scale_columns(name, s);
  }
  if (active(SmoothingPair::kUpDown)) {
    // silu(gate) * (up / s) = (silu(gate) * up) / s channel by channel; down's columns take s.
    const at::Tensor s = truncated(scales_.at(SmoothingPair::kUpDown));
    divide_rows("up_proj", s, at::Tensor());
    scale_columns("down_proj", s);
  }
  for (auto& [name, wb] : out.linears) {
    const auto& l = linears.at(name);
    wb.first = wb.first.to(l->weight.scalar_type());
    if (wb.second.defined()) wb.second = wb.second.to(l->bias.scalar_type());
  }
  return out;
}

void EquivalentTransformationImpl::apply(model::DecoderLayerImpl& layer) const {
  auto t = transformed(layer);
  auto linears = linears_of(layer);
  for (auto& [name, wb] : t.linears) linears.at(name)->set_weight_override(wb.first, wb.second);
  layer.attention_norm_override = t.attention_norm;
  layer.ffn_norm_override = t.ffn_norm;
}

void EquivalentTransformationImpl::clear(model::DecoderLayerImpl& layer) {
  for (auto& [name, linear] : linears_of(layer)) linear->clear_weight_override();
  layer.attention_norm_override = at::Tensor();
  layer.ffn_norm_override = at::Tensor();
}

void EquivalentTransformationImpl::fold(model::DecoderLayerImpl& layer) const {
  c10::NoGradGuard no_grad;
  clear(layer);
  auto t = transformed(layer);
  auto linears = linears_of(layer);
  for (auto& [name, wb] : t.linears) {
    auto& l = linears.at(name);
    l->weight.copy_(wb.first);
    if (wb.second.defined()) l->bias.copy_(wb.second);
  }
  if (t.attention_norm.defined()) layer.attention_input_norm().copy_(t.attention_norm);
  if (t.ffn_norm.defined()) layer.ffn_input_norm().copy_(t.ffn_norm);
}

}  // namespace matquant::train
