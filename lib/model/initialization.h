#pragma once
// Random initialisation for models made from scratch (built-in models, pretraining, benchmarks at
// real shapes): normal(0, std) projections and embeddings, unit norms (zero for (1 + w) norms).
#include "model/decoder.h"

namespace matquant::model {

void initialize_random(DecoderModel& model, double std = 0.02, uint64_t seed = 0);

// Config JSON of the built-in models (e.g. "tiny-llama"); throws listing the known names.
nlohmann::json builtin_config(const std::string& name);
std::vector<std::string> builtin_model_names();

}  // namespace matquant::model
