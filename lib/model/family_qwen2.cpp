// Qwen2: Llama's block with biases on the q, k and v projections; sliding window only when
// use_sliding_window is set, on layers from max_window_layers on (transformers' Qwen2Config).
#include "model/family_registry.h"

namespace matquant::model {

void parse_qwen2_config(const ConfigReader& reader, ModelConfig& config) {
  config.qkv_bias = true;
  if (reader.boolean("use_sliding_window", false)) {
    config.sliding_window = reader.optional_integer("sliding_window");
  }
  const int64_t max_window_layers = reader.integer("max_window_layers", config.num_hidden_layers);
  read_layer_types(reader, config,
                   [max_window_layers](int64_t layer) { return layer >= max_window_layers; });
}

}  // namespace matquant::model
