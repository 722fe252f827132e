#pragma once
// Decoder families keyed by config.json's model_type. Adding a family is one file
// (lib/model/family_<name>.cpp defining its parser) plus one line in family_registry.cpp.
#include "model/config.h"

#include <string>
#include <vector>

namespace matquant::model {

using FamilyConfigParser = void (*)(const ConfigReader& reader, ModelConfig& config);

FamilyConfigParser find_family(const std::string& model_type);  // nullptr when unknown
std::vector<std::string> known_families();

// One per family file.
void parse_llama_config(const ConfigReader& reader, ModelConfig& config);
void parse_mistral_config(const ConfigReader& reader, ModelConfig& config);
void parse_qwen2_config(const ConfigReader& reader, ModelConfig& config);
void parse_gemma2_config(const ConfigReader& reader, ModelConfig& config);

}  // namespace matquant::model
