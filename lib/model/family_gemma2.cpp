// Gemma-2: RMSNorm scaled by (1 + w), norms before and after attention and MLP, GeGLU with
// tanh-approximate GELU, embeddings times sqrt(hidden), attention and final logit softcapping,
// sliding-window layers alternating with global ones (even layers slide), attention scaled by
// query_pre_attn_scalar^-1/2, tied embeddings. (transformers, models/gemma2/modeling_gemma2.py)
#include "model/family_registry.h"

#include <cmath>

namespace matquant::model {

void parse_gemma2_config(const ConfigReader& reader, ModelConfig& config) {
  config.norm_adds_one = true;
  config.sandwich_norms = true;
  config.scale_embeddings = true;
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", true);
  config.attention_bias = reader.boolean("attention_bias", false);
  if (!reader.json().contains("hidden_activation") && !reader.json().contains("hidden_act")) {
    config.activation = Activation::kGeluTanh;
  }
  config.attention_scale =
      1.0 / std::sqrt(reader.number("query_pre_attn_scalar", double(config.head_dim)));
  config.attn_logit_softcapping = reader.optional_number("attn_logit_softcapping");
  config.final_logit_softcapping = reader.optional_number("final_logit_softcapping");
  config.sliding_window = reader.optional_integer("sliding_window");
  read_layer_types(reader, config, [](int64_t layer) { return layer % 2 == 0; });
}

}  // namespace matquant::model
