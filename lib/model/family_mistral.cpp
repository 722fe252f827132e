// Mistral: Llama's block with a sliding attention window on every layer when configured.
#include "model/family_registry.h"

namespace matquant::model {

void parse_mistral_config(const ConfigReader& reader, ModelConfig& config) {
  config.sliding_window = reader.optional_integer("sliding_window");
  read_layer_types(reader, config, [](int64_t) { return true; });
}

}  // namespace matquant::model
