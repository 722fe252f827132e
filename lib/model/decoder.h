#pragma once
// The decoder-only transformer shared by every family; a family differs only in its ModelConfig
// traits (lib/model/family_*.cpp). Weights are named as in Hugging Face checkpoints.
#include "kernels/fused_ops.h"
#include "model/config.h"
#include "model/quantized_linear.h"
#include "quant/precision_plan.h"

#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace matquant::model {

enum class QuantScope { kFfn, kFfnAndAttention };
QuantScope parse_quant_scope(const std::string& text);  // "ffn" | "ffn+attn"
std::string to_string(QuantScope scope);

// act(gate) * up of the gated FFN (config.activation), in one fused kernel where it applies.
at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, const ModelConfig& config);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& config, int64_t layer_index);
  // hidden: [B, T, H]; mask: [B, 1, T, T] bool (true = may attend); rope: cos/sin tables.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& mask, const at::Tensor& cos,
                     const at::Tensor& sin);
  at::Tensor attention(const at::Tensor& hidden, const at::Tensor& mask, const at::Tensor& cos,
                       const at::Tensor& sin);
  at::Tensor mlp(const at::Tensor& hidden);
  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight) const;
  // (norm(x, weight), x) where x is also the residual path's input: with gradients on and the fused
  // kernel taken, one autograd node whose backward sums x's two gradients in the norm's kernel (the
  // second output is then a custom function's view of x: not to be modified in place).
  std::pair<at::Tensor, at::Tensor> norm_passing(const at::Tensor& x, const at::Tensor& weight) const;
  // hidden = h + norm(branch, post) (post undefined: h + branch) and normed = norm(hidden, next)
  // (next undefined: none), in one fused kernel when no gradient is needed (evaluation, prefill,
  // checkpointing's first pass).
  kernels::ResidualNormed residual_step(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& post,
                                        const at::Tensor& next) const;
  // The norm weights whose outputs feed q/k/v and gate/up (Gemma-2: the pre-feedforward norm).
  at::Tensor& attention_input_norm() { return input_layernorm; }
  at::Tensor& ffn_input_norm();

  const ModelConfig* config;
  int64_t index;
  QuantizedLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  QuantizedLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  at::Tensor input_layernorm, post_attention_layernorm;
  at::Tensor pre_feedforward_layernorm, post_feedforward_layernorm;  // Gemma-2 only
  // Served in place of attention_input_norm() / ffn_input_norm() while defined: the learnable
  // equivalent transformation's w / s during calibration (lib/train/equivalent_transformation).
  at::Tensor attention_norm_override, ffn_norm_override;
};
TORCH_MODULE(DecoderLayer);

class DecoderModelImpl : public torch::nn::Module {
 public:
  explicit DecoderModelImpl(ModelConfig config);

  // input_ids: [B, T] int64; attention_mask: [B, T] (1 = token, 0 = padding) or undefined.
  // Returns logits [B, T, vocab] in the model's dtype.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {});
  // Hidden states after the final norm, before the LM head.
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask = {});
  at::Tensor logits_from_hidden(const at::Tensor& hidden);
  // cap * tanh(raw / cap) with the final-logit cap (Gemma-2), or raw when the family has none.
  at::Tensor softcap_logits(const at::Tensor& raw) const;
  // Next-token NLL (fp32, [B * T]) of targets [B, T] given input_ids [B, T]: on CUDA the fused
  // softcapped cross-entropy reads the raw LM-head output once (no fp32 logits tensor); elsewhere
  // cross_entropy over forward()'s logits. Equal to cross_entropy(forward(ids), targets) per token.
  at::Tensor token_nll(const at::Tensor& input_ids, const at::Tensor& targets, const at::Tensor& attention_mask = {});
  at::Tensor embed(const at::Tensor& input_ids);
  // Masks and rotary tables shared by every layer of one forward pass.
  struct AttentionInputs {
    at::Tensor global_mask, sliding_mask, cos, sin;
    const at::Tensor& mask_for(const DecoderLayerImpl& layer, const ModelConfig& config) const;
  };
  AttentionInputs prepare_attention(const at::Tensor& attention_mask, int64_t batch, int64_t length,
                                    at::ScalarType dtype, const at::Device& device) const;
  // [B, 1, T, T] boolean mask for one layer kind (sliding or global).
  at::Tensor attention_mask_for(const at::Tensor& attention_mask, int64_t batch, int64_t length,
                                bool sliding, const at::Device& device) const;

  // Wraps the projections in scope with quantizers (c bits, groups, clipping).
  void enable_quantization(QuantScope scope, const QuantizerConfig& quantizer);
  // The precision each quantized layer serves; nullopt serves full precision everywhere.
  void set_precision(const std::optional<quant::PrecisionPlan>& plan);
  // (name, layer index, linear) for every quantized projection.
  std::vector<std::tuple<std::string, int64_t, QuantizedLinear>> quantized_linears();

  // Every checkpoint tensor with its Hugging Face name; tied heads are listed once.
  std::vector<std::pair<std::string, at::Tensor>> named_weights();
  const ModelConfig& config() const { return config_; }
  at::Tensor lm_head_weight() const;

  // How hidden_states runs one layer; empty = layer.forward. Training installs activation
  // checkpointing here (lib/train/activation_checkpoint), so the model needs no training code.
  using LayerRunner = std::function<at::Tensor(DecoderLayerImpl& layer, const at::Tensor& hidden,
                                               const at::Tensor& mask, const at::Tensor& cos,
                                               const at::Tensor& sin)>;
  void set_layer_runner(LayerRunner runner) { layer_runner_ = std::move(runner); }
  bool has_layer_runner() const { return bool(layer_runner_); }

  std::vector<DecoderLayer> layers;
  at::Tensor embed_tokens;  // [vocab, H]
  at::Tensor final_norm;    // [H]
  at::Tensor lm_head;       // [vocab, H]; undefined when tied

 private:
  ModelConfig config_;
  at::Tensor inverse_frequencies_;  // on the host; inverse_frequencies_on keeps device copies
  // One copy per device (by its name), made once and kept while the model lives, so a forward makes
  // no host-to-device copy (a CUDA graph cannot capture one from pageable memory) and a graph
  // captured on one device keeps reading its copy after the model runs on another. Filled under a
  // lock: forwards on several threads may ask for a copy at once.
  mutable std::map<std::string, at::Tensor> inverse_frequencies_on_devices_;
  at::Tensor inverse_frequencies_on(const at::Device& device) const;
  std::optional<QuantScope> scope_;
  LayerRunner layer_runner_;
};
TORCH_MODULE(DecoderModel);

}  // namespace matquant::model
