// Llama (1/2/3.x): RMSNorm, SwiGLU, grouped-query attention, RoPE with optional llama3 scaling.
#include "model/family_registry.h"

namespace matquant::model {

void parse_llama_config(const ConfigReader& reader, ModelConfig& config) {
  config.attention_bias = reader.boolean("attention_bias", false);
  config.mlp_bias = reader.boolean("mlp_bias", false);
  config.layer_uses_sliding_window.assign(static_cast<size_t>(config.num_hidden_layers), false);
}

}  // namespace matquant::model
