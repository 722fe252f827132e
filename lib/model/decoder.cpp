#include "model/decoder.h"

#include "common/error.h"
#include "kernels/fused_ops.h"
#include "kernels/master_weight_ops.h"
#include "model/attention.h"
#include "model/rope.h"

#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <tuple>

namespace matquant::model {

QuantScope parse_quant_scope(const std::string& text) {
  if (text == "ffn") return QuantScope::kFfn;
  if (text == "ffn+attn") return QuantScope::kFfnAndAttention;
  throw_invalid("quantization scope '" + text + "' is not one of: ffn, ffn+attn");
}

std::string to_string(QuantScope scope) {
  return scope == QuantScope::kFfn ? "ffn" : "ffn+attn";
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t layer_index)
    : config(&c), index(layer_index) {
  const int64_t h = c.hidden_size;
  const bool qkv_bias = c.attention_bias || c.qkv_bias;
  q_proj = register_module("q_proj", QuantizedLinear(h, c.num_attention_heads * c.head_dim, qkv_bias));
  k_proj = register_module("k_proj", QuantizedLinear(h, c.num_key_value_heads * c.head_dim, qkv_bias));
  v_proj = register_module("v_proj", QuantizedLinear(h, c.num_key_value_heads * c.head_dim, qkv_bias));
  o_proj = register_module("o_proj", QuantizedLinear(c.num_attention_heads * c.head_dim, h, c.attention_bias));
  gate_proj = register_module("gate_proj", QuantizedLinear(h, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", QuantizedLinear(h, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", QuantizedLinear(c.intermediate_size, h, c.mlp_bias));
  const double norm_init = c.norm_adds_one ? 0.0 : 1.0;
  input_layernorm = register_parameter("input_layernorm", at::full({h}, norm_init));
  post_attention_layernorm = register_parameter("post_attention_layernorm", at::full({h}, norm_init));
  if (c.sandwich_norms) {
    pre_feedforward_layernorm = register_parameter("pre_feedforward_layernorm", at::full({h}, norm_init));
    post_feedforward_layernorm = register_parameter("post_feedforward_layernorm", at::full({h}, norm_init));
  }
}

namespace {
bool fused_norm_applies(const at::Tensor& x, const at::Tensor& weight, const ModelConfig& config) {
  return kernels::fused_kernels_enabled(x) && kernels::fused_kernels_enabled(weight) && x.size(-1) <= 8192 &&
         (config.norm_adds_one || weight.scalar_type() == x.scalar_type());
}
}  // namespace

std::pair<at::Tensor, at::Tensor> DecoderLayerImpl::norm_passing(const at::Tensor& x, const at::Tensor& weight) const {
  if (at::GradMode::is_enabled() && fused_norm_applies(x, weight, *config)) {
    return kernels::rms_norm_passing(x, weight, config->rms_norm_eps, config->norm_adds_one);
  }
  return {norm(x, weight), x};
}

at::Tensor DecoderLayerImpl::norm(const at::Tensor& x, const at::Tensor& weight) const {
  if (fused_norm_applies(x, weight, *config)) {
    return kernels::rms_norm(x, weight, config->rms_norm_eps, config->norm_adds_one);
  }
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean(-1, true) + config->rms_norm_eps);
  if (config->norm_adds_one) return (normed * (1.0 + weight.to(at::kFloat))).to(x.scalar_type());
  return weight * normed.to(x.scalar_type());  // Llama multiplies in the weight's dtype
}

kernels::ResidualNormed DecoderLayerImpl::residual_step(const at::Tensor& h, const at::Tensor& branch,
                                                       const at::Tensor& post, const at::Tensor& next) const {
  if (kernels::residual_rms_norm_applies(h, branch, post, next, config->norm_adds_one)) {
    return kernels::residual_rms_norm(h, branch, post, next, config->rms_norm_eps, config->norm_adds_one);
  }
  kernels::ResidualNormed out;
  if (post.defined() && kernels::rms_norm_add_applies(h, branch, post, config->norm_adds_one)) {
    out.hidden = kernels::rms_norm_add(h, branch, post, config->rms_norm_eps, config->norm_adds_one);
  } else {
    out.hidden = h + (post.defined() ? norm(branch, post) : branch);
  }
  if (next.defined()) std::tie(out.normed, out.hidden) = norm_passing(out.hidden, next);
  return out;
}

at::Tensor& DecoderLayerImpl::ffn_input_norm() {
  return config->sandwich_norms ? pre_feedforward_layernorm : post_attention_layernorm;
}

at::Tensor DecoderLayerImpl::attention(const at::Tensor& hidden, const at::Tensor& mask,
                                       const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t b = hidden.size(0);
  const int64_t t = hidden.size(1);
  const int64_t heads = config->num_attention_heads;
  const int64_t kv_heads = config->num_key_value_heads;
  const int64_t d = config->head_dim;
  const RopeTables tables{cos, sin};
  // q and k feed only attend's matmuls or kernels, which take them in bf16 under autocast.
  const std::vector<at::Tensor> qkv = model::project_jointly(hidden, {q_proj.get(), k_proj.get(), v_proj.get()});
  const at::Tensor q = apply_rope(qkv[0].view({b, t, heads, d}).transpose(1, 2), tables, true);
  const at::Tensor k = apply_rope(qkv[1].view({b, t, kv_heads, d}).transpose(1, 2), tables, true);
  const at::Tensor v = qkv[2].view({b, t, kv_heads, d}).transpose(1, 2);
  const at::Tensor out = attend(q, k, v, mask, *config);
  return o_proj(out.transpose(1, 2).reshape({b, t, heads * d}));
}

at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, const ModelConfig& config) {
  const bool gelu = config.activation == Activation::kGeluTanh;
  if (kernels::fused_kernels_enabled(gate) && gate.scalar_type() == up.scalar_type() && gate.sizes() == up.sizes()) {
    return kernels::gated_activation(gate, up, gelu);
  }
  return (gelu ? at::gelu(gate, "tanh") : at::silu(gate)) * up;
}

at::Tensor DecoderLayerImpl::mlp(const at::Tensor& hidden) {
  const std::vector<at::Tensor> gate_up = model::project_jointly(hidden, {gate_proj.get(), up_proj.get()});
  return down_proj(gated_activation(gate_up[0], gate_up[1], *config));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& hidden, const at::Tensor& mask,
                                     const at::Tensor& cos, const at::Tensor& sin) {
  const at::Tensor& attention_norm =
      attention_norm_override.defined() ? attention_norm_override : input_layernorm;
  const auto [normed, residual] = norm_passing(hidden, attention_norm);
  const at::Tensor attended = attention(normed, mask, cos, sin);
  if (config->sandwich_norms) {
    const at::Tensor& ffn_norm = ffn_norm_override.defined() ? ffn_norm_override : pre_feedforward_layernorm;
    const kernels::ResidualNormed h = residual_step(residual, attended, post_attention_layernorm, ffn_norm);
    return residual_step(h.hidden, mlp(h.normed), post_feedforward_layernorm, {}).hidden;
  }
  const at::Tensor& ffn_norm = ffn_norm_override.defined() ? ffn_norm_override : post_attention_layernorm;
  const kernels::ResidualNormed h = residual_step(residual, attended, {}, ffn_norm);
  return h.hidden + mlp(h.normed);
}

DecoderModelImpl::DecoderModelImpl(ModelConfig config) : config_(std::move(config)) {
  const auto& c = config_;
  if (c.num_hidden_layers <= 0 || c.hidden_size <= 0 || c.vocab_size <= 0) {
    throw_invalid("model config has non-positive sizes");
  }
  embed_tokens = register_parameter("embed_tokens", at::empty({c.vocab_size, c.hidden_size}));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(register_module(fmt::format("layer{}", i), DecoderLayer(config_, i)));
  }
  final_norm = register_parameter("norm", at::full({c.hidden_size}, c.norm_adds_one ? 0.0 : 1.0));
  if (!c.tie_word_embeddings) {
    lm_head = register_parameter("lm_head", at::empty({c.vocab_size, c.hidden_size}));
  }
  inverse_frequencies_ = rope_inverse_frequencies(c.rope, c.head_dim, at::kCPU);
}

at::Tensor DecoderModelImpl::inverse_frequencies_on(const at::Device& device) const {
  if (device.is_cpu()) return inverse_frequencies_;
  static std::mutex copies;  // one lock for every model: taken once per forward, briefly
  const std::lock_guard<std::mutex> lock(copies);
  at::Tensor& copy = inverse_frequencies_on_devices_[device.str()];
  if (!copy.defined()) copy = inverse_frequencies_.to(device);
  return copy;
}

at::Tensor DecoderModelImpl::lm_head_weight() const {
  return config_.tie_word_embeddings ? embed_tokens : lm_head;
}

at::Tensor DecoderModelImpl::embed(const at::Tensor& input_ids) {
  at::Tensor h = kernels::master_weight_training(embed_tokens) ? kernels::master_embedding(embed_tokens, input_ids)
                                                                : at::embedding(embed_tokens, input_ids);
  if (config_.scale_embeddings) {
    // transformers rounds the normalizer to the activation dtype first (matters in bf16).
    h = h * at::scalar_tensor(std::sqrt(double(config_.hidden_size)), h.options());
  }
  return h;
}

at::Tensor DecoderModelImpl::attention_mask_for(const at::Tensor& attention_mask, int64_t batch,
                                                int64_t length, bool sliding,
                                                const at::Device& device) const {
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  const at::Tensor q = at::arange(length, long_options).view({length, 1});
  const at::Tensor k = at::arange(length, long_options).view({1, length});
  at::Tensor allowed = k.le(q);
  if (sliding && config_.sliding_window) allowed = allowed.logical_and((q - k).lt(*config_.sliding_window));
  at::Tensor mask = allowed.view({1, 1, length, length}).expand({batch, 1, length, length});
  if (attention_mask.defined()) {
    mask = mask.logical_and(attention_mask.to(device).to(at::kBool).view({batch, 1, 1, length}));
  }
  // Every query may see itself, so padded rows never softmax over nothing (no NaN leaks).
  return mask.logical_or(at::eye(length, long_options.dtype(at::kBool)).view({1, 1, length, length}));
}

const at::Tensor& DecoderModelImpl::AttentionInputs::mask_for(const DecoderLayerImpl& layer,
                                                                const ModelConfig& config) const {
  return config.layer_uses_sliding_window.at(static_cast<size_t>(layer.index)) ? sliding_mask : global_mask;
}

DecoderModelImpl::AttentionInputs DecoderModelImpl::prepare_attention(const at::Tensor& attention_mask,
                                                                      int64_t batch, int64_t length,
                                                                      at::ScalarType dtype,
                                                                      const at::Device& device) const {
  AttentionInputs inputs;
  const at::Tensor positions =
      at::arange(length, at::TensorOptions().dtype(at::kLong).device(device)).view({1, length});
  const RopeTables rope = rope_tables(inverse_frequencies_on(device), positions, dtype);
  inputs.cos = rope.cos;
  inputs.sin = rope.sin;
  inputs.global_mask = attention_mask_for(attention_mask, batch, length, false, device);
  const bool any_sliding = std::any_of(config_.layer_uses_sliding_window.begin(),
                                       config_.layer_uses_sliding_window.end(), [](bool b) { return b; });
  inputs.sliding_mask =
      any_sliding ? attention_mask_for(attention_mask, batch, length, true, device) : inputs.global_mask;
  return inputs;
}

at::Tensor DecoderModelImpl::hidden_states(const at::Tensor& input_ids,
                                           const at::Tensor& attention_mask) {
  if (input_ids.dim() != 2) throw_invalid("input_ids must be [batch, length]");
  const at::Device device = embed_tokens.device();
  at::Tensor h = embed(input_ids.to(device));
  const AttentionInputs inputs =
      prepare_attention(attention_mask, input_ids.size(0), input_ids.size(1), h.scalar_type(), device);
  for (auto& layer : layers) {
    const at::Tensor& mask = inputs.mask_for(*layer, config_);
    h = layer_runner_ ? layer_runner_(*layer, h, mask, inputs.cos, inputs.sin)
                      : layer->forward(h, mask, inputs.cos, inputs.sin);
  }
  return layers.front()->norm(h, final_norm);
}

at::Tensor DecoderModelImpl::softcap_logits(const at::Tensor& raw) const {
  if (!config_.final_logit_softcapping) return raw;
  const double cap = *config_.final_logit_softcapping;
  return at::tanh(raw / cap) * cap;
}

at::Tensor DecoderModelImpl::logits_from_hidden(const at::Tensor& hidden) {
  return softcap_logits(kernels::training_linear(hidden, lm_head_weight()));
}

at::Tensor DecoderModelImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) {
  return logits_from_hidden(hidden_states(input_ids, attention_mask));
}

at::Tensor DecoderModelImpl::token_nll(const at::Tensor& input_ids, const at::Tensor& targets,
                                       const at::Tensor& attention_mask) {
  const at::Tensor raw = kernels::training_linear(hidden_states(input_ids, attention_mask), lm_head_weight());
  const at::Tensor flat_raw = raw.reshape({-1, raw.size(-1)});
  const at::Tensor flat_targets = targets.reshape({-1}).to(raw.device());
  if (kernels::fused_kernels_enabled(raw)) {
    return kernels::softcapped_cross_entropy(flat_raw, flat_targets, config_.final_logit_softcapping.value_or(0.0));
  }
  return at::cross_entropy_loss(softcap_logits(flat_raw).to(at::kFloat), flat_targets, {}, at::Reduction::None);
}

void DecoderModelImpl::enable_quantization(QuantScope scope, const QuantizerConfig& quantizer) {
  scope_ = scope;
  for (auto& [name, layer_index, linear] : quantized_linears()) linear->enable_quantizer(quantizer);
}

std::vector<std::tuple<std::string, int64_t, QuantizedLinear>> DecoderModelImpl::quantized_linears() {
  std::vector<std::tuple<std::string, int64_t, QuantizedLinear>> out;
  if (!scope_) return out;
  for (auto& layer : layers) {
    const std::string prefix = fmt::format("model.layers.{}.", layer->index);
    out.emplace_back(prefix + "mlp.gate_proj", layer->index, layer->gate_proj);
    out.emplace_back(prefix + "mlp.up_proj", layer->index, layer->up_proj);
    out.emplace_back(prefix + "mlp.down_proj", layer->index, layer->down_proj);
    if (*scope_ == QuantScope::kFfnAndAttention) {
      out.emplace_back(prefix + "self_attn.q_proj", layer->index, layer->q_proj);
      out.emplace_back(prefix + "self_attn.k_proj", layer->index, layer->k_proj);
      out.emplace_back(prefix + "self_attn.v_proj", layer->index, layer->v_proj);
      out.emplace_back(prefix + "self_attn.o_proj", layer->index, layer->o_proj);
    }
  }
  return out;
}

void DecoderModelImpl::set_precision(const std::optional<quant::PrecisionPlan>& plan) {
  const int layer_count = static_cast<int>(layers.size());
  for (auto& [name, layer_index, linear] : quantized_linears()) {
    linear->set_precision(plan ? std::optional<int>(plan->bits_for_layer(
                                     static_cast<int>(layer_index), layer_count))
                               : std::nullopt);
  }
}

std::vector<std::pair<std::string, at::Tensor>> DecoderModelImpl::named_weights() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", embed_tokens);
  for (auto& layer : layers) {
    const std::string p = fmt::format("model.layers.{}.", layer->index);
    const std::pair<const char*, QuantizedLinear> projections[] = {
        {"self_attn.q_proj", layer->q_proj},  {"self_attn.k_proj", layer->k_proj},
        {"self_attn.v_proj", layer->v_proj},  {"self_attn.o_proj", layer->o_proj},
        {"mlp.gate_proj", layer->gate_proj}, {"mlp.up_proj", layer->up_proj},
        {"mlp.down_proj", layer->down_proj}};
    for (const auto& [name, linear] : projections) {
      out.emplace_back(p + name + ".weight", linear->weight);
      if (linear->bias.defined()) out.emplace_back(p + name + ".bias", linear->bias);
    }
    out.emplace_back(p + "input_layernorm.weight", layer->input_layernorm);
    out.emplace_back(p + "post_attention_layernorm.weight", layer->post_attention_layernorm);
    if (layer->pre_feedforward_layernorm.defined()) {
      out.emplace_back(p + "pre_feedforward_layernorm.weight", layer->pre_feedforward_layernorm);
      out.emplace_back(p + "post_feedforward_layernorm.weight", layer->post_feedforward_layernorm);
    }
  }
  out.emplace_back("model.norm.weight", final_norm);
  if (lm_head.defined()) out.emplace_back("lm_head.weight", lm_head);
  return out;
}

}  // namespace matquant::model
