#include "model/config.h"

#include "common/error.h"
#include "model/family_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <boost/filesystem.hpp>
#include <fstream>

namespace matquant::model {

ConfigReader::ConfigReader(const nlohmann::json& json, std::string source)
    : json_(json), source_(std::move(source)) {}

void ConfigReader::fail(const std::string& key, const std::string& message) const {
  throw Error(ErrorCode::kInvalidInput, located_message(source_, 0, key, message));
}

int64_t ConfigReader::integer(const std::string& key) const {
  if (!json_.contains(key) || json_[key].is_null()) fail(key, "required field is missing");
  if (!json_[key].is_number_integer()) fail(key, "expected an integer, got " + json_[key].dump());
  return json_[key].get<int64_t>();
}

int64_t ConfigReader::integer(const std::string& key, int64_t fallback) const {
  return json_.contains(key) && !json_[key].is_null() ? integer(key) : fallback;
}

std::optional<int64_t> ConfigReader::optional_integer(const std::string& key) const {
  if (!json_.contains(key) || json_[key].is_null()) return std::nullopt;
  if (json_[key].is_array()) {  // e.g. eos_token_id: [1, 107]; the first is the primary one
    if (json_[key].empty() || !json_[key][0].is_number_integer()) fail(key, "expected integers");
    return json_[key][0].get<int64_t>();
  }
  return integer(key);
}

double ConfigReader::number(const std::string& key, double fallback) const {
  const auto value = optional_number(key);
  return value ? *value : fallback;
}

std::optional<double> ConfigReader::optional_number(const std::string& key) const {
  if (!json_.contains(key) || json_[key].is_null()) return std::nullopt;
  if (!json_[key].is_number()) fail(key, "expected a number, got " + json_[key].dump());
  return json_[key].get<double>();
}

bool ConfigReader::boolean(const std::string& key, bool fallback) const {
  if (!json_.contains(key) || json_[key].is_null()) return fallback;
  if (!json_[key].is_boolean()) fail(key, "expected true or false, got " + json_[key].dump());
  return json_[key].get<bool>();
}

std::string ConfigReader::string(const std::string& key, const std::string& fallback) const {
  if (!json_.contains(key) || json_[key].is_null()) return fallback;
  if (!json_[key].is_string()) fail(key, "expected a string, got " + json_[key].dump());
  return json_[key].get<std::string>();
}

// RoPE settings live in "rope_scaling" + "rope_theta" (transformers 4) or "rope_parameters"
// (transformers 5, which also holds rope_theta).
static void read_rope(const ConfigReader& reader, ModelConfig& config) {
  const auto& json = reader.json();
  config.rope.theta = reader.number("rope_theta", 10000.0);
  const char* key = json.contains("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!json.contains(key) || json[key].is_null()) return;
  if (!json[key].is_object()) reader.fail(key, "expected an object");
  const ConfigReader rope(json[key], reader.source() + ": " + key);
  config.rope.theta = rope.number("rope_theta", config.rope.theta);
  config.rope.type = rope.string("rope_type", rope.string("type", "default"));
  config.rope.factor = rope.number("factor", 1.0);
  config.rope.low_freq_factor = rope.number("low_freq_factor", 1.0);
  config.rope.high_freq_factor = rope.number("high_freq_factor", 4.0);
  config.rope.original_max_position_embeddings =
      rope.integer("original_max_position_embeddings", config.max_position_embeddings);
  if (config.rope.type != "default" && config.rope.type != "linear" && config.rope.type != "llama3") {
    rope.fail("rope_type", "'" + config.rope.type + "' is not supported (default, linear, llama3)");
  }
}

void read_common_fields(const ConfigReader& reader, ModelConfig& config) {
  config.vocab_size = reader.integer("vocab_size");
  config.hidden_size = reader.integer("hidden_size");
  config.intermediate_size = reader.integer("intermediate_size");
  config.num_hidden_layers = reader.integer("num_hidden_layers");
  config.num_attention_heads = reader.integer("num_attention_heads");
  config.num_key_value_heads = reader.integer("num_key_value_heads", config.num_attention_heads);
  config.head_dim = reader.integer("head_dim", config.hidden_size / config.num_attention_heads);
  config.max_position_embeddings = reader.integer("max_position_embeddings", 4096);
  config.rms_norm_eps = reader.number("rms_norm_eps", 1e-6);
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", false);
  config.bos_token_id = reader.optional_integer("bos_token_id");
  config.eos_token_id = reader.optional_integer("eos_token_id");
  config.pad_token_id = reader.optional_integer("pad_token_id");
  config.attention_scale = 1.0 / std::sqrt(double(config.head_dim));
  read_rope(reader, config);
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    reader.fail("num_key_value_heads", "must divide num_attention_heads");
  }
  const std::string act = reader.string("hidden_activation", reader.string("hidden_act", "silu"));
  if (act == "silu") {
    config.activation = Activation::kSilu;
  } else if (act == "gelu_pytorch_tanh" || act == "gelu_tanh") {
    config.activation = Activation::kGeluTanh;
  } else {
    reader.fail("hidden_act", "'" + act + "' is not supported (silu, gelu_pytorch_tanh)");
  }
}

void read_layer_types(const ConfigReader& reader, ModelConfig& config,
                      const std::function<bool(int64_t)>& fallback) {
  config.layer_uses_sliding_window.assign(static_cast<size_t>(config.num_hidden_layers), false);
  const auto& json = reader.json();
  if (json.contains("layer_types") && json["layer_types"].is_array()) {
    const auto& types = json["layer_types"];
    if (static_cast<int64_t>(types.size()) != config.num_hidden_layers) {
      reader.fail("layer_types", fmt::format("has {} entries for {} layers", types.size(),
                                             config.num_hidden_layers));
    }
    for (size_t i = 0; i < types.size(); ++i) {
      const std::string type = types[i].is_string() ? types[i].get<std::string>() : "";
      if (type != "sliding_attention" && type != "full_attention") {
        reader.fail(fmt::format("layer_types[{}]", i),
                    "expected 'sliding_attention' or 'full_attention', got " + types[i].dump());
      }
      config.layer_uses_sliding_window[i] = type == "sliding_attention";
    }
  } else {
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      config.layer_uses_sliding_window[static_cast<size_t>(i)] = fallback(i);
    }
  }
  if (!config.sliding_window) config.layer_uses_sliding_window.assign(config.layer_uses_sliding_window.size(), false);
}

ModelConfig load_config(const std::string& path) {
  namespace fs = boost::filesystem;
  const fs::path file = fs::is_directory(path) ? fs::path(path) / "config.json" : fs::path(path);
  std::ifstream stream(file);
  if (!stream) throw Error(ErrorCode::kNotFound, "cannot open model config " + file.string());
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::kInvalidInput, file.string() + ": not valid JSON: " + e.what());
  }
  return parse_config(raw, file.string());
}

ModelConfig parse_config(const nlohmann::json& raw, const std::string& source) {
  ModelConfig config;
  config.raw = raw;
  const ConfigReader reader(config.raw, source);
  config.model_type = reader.string("model_type", "");
  const FamilyConfigParser parser = find_family(config.model_type);
  if (parser == nullptr) {
    reader.fail("model_type", fmt::format("'{}' is not a supported family (known: {})",
                                          config.model_type, fmt::join(known_families(), ", ")));
  }
  read_common_fields(reader, config);
  parser(reader, config);
  return config;
}

}  // namespace matquant::model
