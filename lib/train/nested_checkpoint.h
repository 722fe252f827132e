#pragma once
// The nested checkpoint (DESIGN.md "Checkpoint"): one safetensors file with
//   <proj>.weight.codes (uint8 c-bit codes), <proj>.weight.scale, <proj>.weight.zero_point
// for every quantized projection, the other weights as they are, and metadata "matquant" (JSON:
// format version, config.json, quantizer, scope, and whatever the trainer records). Any r <= c
// model, or a Mix'n'Match plan, is served from it by switching the model's precision.
#include "model/decoder.h"

#include <nlohmann/json.hpp>

#include <string>

namespace matquant::train {

inline constexpr int kNestedCheckpointVersion = 1;

// Freezes every quantized projection's codes (if not yet) and writes the checkpoint atomically.
void save_nested_checkpoint(model::DecoderModel& model, const std::string& path,
                            const nlohmann::json& metadata);

struct LoadedCheckpoint {
  model::DecoderModel model{nullptr};
  nlohmann::json metadata;
};
// The "matquant" metadata of a nested checkpoint (spec, model_dir, quantizer, ...) without loading
// its tensors; a file that is not one is ErrorCode::kInvalidInput.
nlohmann::json read_nested_checkpoint_metadata(const std::string& path);

LoadedCheckpoint load_nested_checkpoint(const std::string& path, at::ScalarType dtype, const at::Device& device);

}  // namespace matquant::train
