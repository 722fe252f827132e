#pragma once
// OmniQuant's learnable equivalent transformation (LET), weight-only form, for one decoder block.
//
// For a "producer" P feeding "consumer" linears C (OpenGVLab/OmniQuant models/transformation.py,
// smooth_ln_fcs_* and smooth_fc_fc_*): P's output X becomes (X - delta) / s and every consumer's
// weight W becomes W * s (columns scaled, i.e. along the input dimension) with bias += W delta,
// so the block computes the same function while the consumers' weights, which are what gets
// quantized, change. s (and delta) are trained with the clipping on the block's reconstruction
// loss, then folded into the weights, so the saved checkpoint needs no extra operation.
//
// Pairs (active only when a consumer is quantized, so scope "ffn" only touches the FFN):
//   attention_input: input norm -> q, k, v        (scale only)
//   value_output:    v_proj rows -> o_proj columns (scale; shift too when v and o have biases)
//   ffn_input:       FFN norm -> gate, up           (scale only; Gemma-2: pre-feedforward norm)
//   up_down:         up_proj rows -> down_proj columns (scale only; our addition, see below)
// Every norm in our families is an RMSNorm without bias, so a shift on a norm-fed pair cannot be
// folded; OmniQuant also disables shifts for Llama and for weight-only quantization
// (quantize/omniquant.py: use_shift = False if is_llama or abits == 16). The q/k scale of
// OmniQuant (qkt_smooth_scale) is left out: it only helps quantizing the Q K^T activations,
// which matquant does not do, and RoPE mixes channel i with i + d/2, so an unpaired per-channel
// scale is not an equivalence. up_down is not in OmniQuant: silu(gate) * up is linear in each
// up channel, so scaling up's rows by 1/s and down's columns by s is exact, and it gives
// down_proj, otherwise untouched, a learnable column scale.
#include "model/decoder.h"

#include <torch/nn/module.h>

#include <map>
#include <string>

namespace matquant::train {

enum class SmoothingPair { kAttentionInput, kValueOutput, kFfnInput, kUpDown };
std::string to_string(SmoothingPair pair);

// |s| below this is pushed out to +-this (OmniQuant's truncate_number, threshold 1e-2), with a
// straight-through gradient, so 1/s stays bounded.
inline constexpr double kMinimumScale = 1e-2;
// SmoothQuant migration strength of the initial scales (OmniQuant main.py --alpha default).
inline constexpr double kSmoothQuantAlpha = 0.5;

class EquivalentTransformationImpl : public torch::nn::Module {
 public:
  // Scales start at 1 and shifts at 0 (the identity) for every active pair of `layer`.
  explicit EquivalentTransformationImpl(model::DecoderLayerImpl& layer);

  // SmoothQuant initialisation as OmniQuant does: s = max|X|^alpha / max|W|^(1 - alpha) per
  // input channel of the consumers (max |W| over all of them), clamped to >= 1e-5. max|X| is
  // what the consumers recorded (QuantizedLinear::record_input_absmax) on calibration data.
  void initialize_scales(model::DecoderLayerImpl& layer, double alpha = kSmoothQuantAlpha);
  // Turns input recording on or off for every linear of the layer.
  static void record_inputs(model::DecoderLayerImpl& layer, bool on);

  // Serves the transformed weights and norms through the layer's overrides; differentiable in
  // the scales and shifts. Call again after every optimizer step (the overrides are snapshots).
  void apply(model::DecoderLayerImpl& layer) const;
  static void clear(model::DecoderLayerImpl& layer);
  // Writes the transformation into the layer's weights, biases and norm weights and clears the
  // overrides: the layer then computes what apply() served, with no extra operation.
  void fold(model::DecoderLayerImpl& layer) const;

  bool active(SmoothingPair pair) const { return scales_.count(pair) > 0; }
  bool has_shift(SmoothingPair pair) const { return shifts_.count(pair) > 0; }
  at::Tensor& scale(SmoothingPair pair) { return scales_.at(pair); }
  at::Tensor& shift(SmoothingPair pair) { return shifts_.at(pair); }

 private:
  struct Transformed {
    std::map<std::string, std::pair<at::Tensor, at::Tensor>> linears;  // name -> (weight, bias)
    at::Tensor attention_norm, ffn_norm;                               // undefined = unchanged
  };
  Transformed transformed(model::DecoderLayerImpl& layer) const;

  std::map<SmoothingPair, at::Tensor> scales_;
  std::map<SmoothingPair, at::Tensor> shifts_;
};
TORCH_MODULE(EquivalentTransformation);

}  // namespace matquant::train
