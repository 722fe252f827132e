#include "model/config.h"

#include "common/error.h"
#include "common/json_text.h"
#include "model/family_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <boost/filesystem.hpp>
#include <fstream>
#include <sstream>

namespace matquant::model {

ConfigReader::ConfigReader(const nlohmann::json& json, std::string source,
                           std::vector<std::string>& problems, std::string prefix)
    : json_(json), source_(std::move(source)), problems_(problems), prefix_(std::move(prefix)) {}

void ConfigReader::report(const std::string& key, const std::string& message) const {
  if (reported(key)) return;
  problems_.push_back(located_message(source_, 0, prefix_ + key, message));
}

bool ConfigReader::reported(const std::string& key) const {
  const std::string head = located_message(source_, 0, prefix_ + key, "");
  return std::any_of(problems_.begin(), problems_.end(),
                     [&](const std::string& p) { return p.rfind(head, 0) == 0; });
}

ConfigReader ConfigReader::nested(const std::string& key) const {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const bool object = has(key) && json_[key].is_object();
  if (has(key) && !object) report(key, "expected an object, got " + json_[key].dump());
  return ConfigReader(object ? json_[key] : kEmpty, source_, problems_, prefix_ + key + ".");
}

int64_t ConfigReader::integer(const std::string& key) const {
  if (!has(key)) {
    report(key, "required field is missing");
    return 0;
  }
  return integer(key, 0);
}

int64_t ConfigReader::integer(const std::string& key, int64_t fallback) const {
  if (!has(key)) return fallback;
  // 64.0 is accepted as 64 (some exporters write sizes as floats); 64.5 and 1e30 are not.
  const auto& value = json_[key];
  if (value.is_number_integer() && !(value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX))) {
    return value.get<int64_t>();
  }
  if (value.is_number_float() && std::nearbyint(value.get<double>()) == value.get<double>() &&
      std::abs(value.get<double>()) < 9e15) {
    return static_cast<int64_t>(value.get<double>());
  }
  report(key, "expected an integer, got " + value.dump());
  return fallback;
}

std::optional<int64_t> ConfigReader::optional_integer(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  if (json_[key].is_array()) {  // e.g. eos_token_id: [1, 107]; the first is the primary one
    if (json_[key].empty() || !json_[key][0].is_number_integer()) {
      report(key, "expected integers, got " + json_[key].dump());
      return std::nullopt;
    }
    return json_[key][0].get<int64_t>();
  }
  if (!json_[key].is_number()) {
    report(key, "expected an integer, got " + json_[key].dump());
    return std::nullopt;
  }
  return integer(key, 0);
}

double ConfigReader::number(const std::string& key, double fallback) const {
  const auto value = optional_number(key);
  return value ? *value : fallback;
}

std::optional<double> ConfigReader::optional_number(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  if (!json_[key].is_number()) {
    report(key, "expected a number, got " + json_[key].dump());
    return std::nullopt;
  }
  return json_[key].get<double>();
}

bool ConfigReader::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_boolean()) {
    report(key, "expected true or false, got " + json_[key].dump());
    return fallback;
  }
  return json_[key].get<bool>();
}

std::string ConfigReader::string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_string()) {
    report(key, "expected a string, got " + json_[key].dump());
    return fallback;
  }
  return json_[key].get<std::string>();
}

// RoPE settings live in "rope_scaling" + "rope_theta" (transformers 4) or "rope_parameters"
// (transformers 5, which also holds rope_theta).
static void read_rope(const ConfigReader& reader, ModelConfig& config) {
  config.rope.theta = reader.number("rope_theta", 10000.0);
  const char* key = reader.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!reader.has(key)) return;
  const ConfigReader rope = reader.nested(key);
  config.rope.theta = rope.number("rope_theta", config.rope.theta);
  config.rope.type = rope.string("rope_type", rope.string("type", "default"));
  config.rope.factor = rope.number("factor", 1.0);
  config.rope.low_freq_factor = rope.number("low_freq_factor", 1.0);
  config.rope.high_freq_factor = rope.number("high_freq_factor", 4.0);
  config.rope.original_max_position_embeddings =
      rope.integer("original_max_position_embeddings", config.max_position_embeddings);
  if (config.rope.type != "default" && config.rope.type != "linear" && config.rope.type != "llama3") {
    rope.report("rope_type", "'" + config.rope.type + "' is not supported (default, linear, llama3)");
  }
}

void read_common_fields(const ConfigReader& reader, ModelConfig& config) {
  config.vocab_size = reader.integer("vocab_size");
  config.hidden_size = reader.integer("hidden_size");
  config.intermediate_size = reader.integer("intermediate_size");
  config.num_hidden_layers = reader.integer("num_hidden_layers");
  config.num_attention_heads = reader.integer("num_attention_heads");
  config.num_key_value_heads = reader.integer("num_key_value_heads", config.num_attention_heads);
  // transformers' default head_dim; check_shared_values reports a zero or non-dividing head count.
  const int64_t derived_head_dim =
      config.num_attention_heads > 0 ? config.hidden_size / config.num_attention_heads : 0;
  config.head_dim = reader.integer("head_dim", derived_head_dim);
  config.max_position_embeddings = reader.integer("max_position_embeddings", 4096);
  config.rms_norm_eps = reader.number("rms_norm_eps", 1e-6);
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", false);
  config.bos_token_id = reader.optional_integer("bos_token_id");
  config.eos_token_id = reader.optional_integer("eos_token_id");
  config.pad_token_id = reader.optional_integer("pad_token_id");
  config.attention_scale = config.head_dim > 0 ? 1.0 / std::sqrt(double(config.head_dim)) : 0.0;
  read_rope(reader, config);
  const std::string act = reader.string("hidden_activation", reader.string("hidden_act", "silu"));
  if (act == "silu") {
    config.activation = Activation::kSilu;
  } else if (act == "gelu_pytorch_tanh" || act == "gelu_tanh") {
    config.activation = Activation::kGeluTanh;
  } else {
    reader.report(reader.has("hidden_activation") ? "hidden_activation" : "hidden_act",
                  "'" + act + "' is not supported (silu, gelu_pytorch_tanh)");
  }
}

void read_layer_types(const ConfigReader& reader, ModelConfig& config,
                      const std::function<bool(int64_t)>& fallback) {
  // A bad num_hidden_layers is already reported and zeroed by check_shared_values.
  const int64_t layers = std::max<int64_t>(config.num_hidden_layers, 0);
  config.layer_uses_sliding_window.assign(static_cast<size_t>(layers), false);
  if (reader.has("layer_types") && !reader.json()["layer_types"].is_array()) {
    reader.report("layer_types", "expected a list with one entry per layer, got " + reader.json()["layer_types"].dump());
  } else if (reader.has("layer_types")) {
    const auto& types = reader.json()["layer_types"];
    if (layers > 0 && static_cast<int64_t>(types.size()) != layers) {
      reader.report("layer_types", fmt::format("has {} entries for {} layers (num_hidden_layers)", types.size(), layers));
    }
    for (size_t i = 0; i < types.size() && i < size_t(layers); ++i) {
      const std::string type = types[i].is_string() ? types[i].get<std::string>() : "";
      if (type != "sliding_attention" && type != "full_attention") {
        reader.report(fmt::format("layer_types[{}]", i),
                      "expected 'sliding_attention' or 'full_attention', got " + types[i].dump());
      }
      config.layer_uses_sliding_window[i] = type == "sliding_attention";
    }
  } else {
    for (int64_t i = 0; i < layers; ++i) {
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
  std::stringstream text;
  text << stream.rdbuf();
  return parse_config(parse_json_text(text.str(), file.string()), file.string());
}

ModelConfig parse_config(const nlohmann::json& raw, const std::string& source) {
  if (!raw.is_object()) {
    throw Error(ErrorCode::kInvalidInput, source + ": expected a JSON object, got " + std::string(raw.type_name()));
  }
  ModelConfig config;
  config.raw = raw;
  std::vector<std::string> problems;
  const ConfigReader reader(config.raw, source, problems);
  config.model_type = reader.string("model_type", "");
  const FamilyConfigParser parser = find_family(config.model_type);
  if (parser == nullptr) {
    reader.report("model_type", fmt::format("'{}' is not a supported family (known: {})",
                                            config.model_type, fmt::join(known_families(), ", ")));
  }
  read_common_fields(reader, config);
  check_shared_values(reader, config);  // before the family parser, which sizes per-layer lists
  if (parser != nullptr) parser(reader, config);
  check_family_values(reader, config);
  if (problems.size() == 1) throw Error(ErrorCode::kInvalidInput, problems.front());
  if (!problems.empty()) {
    std::string message = fmt::format("{}: {} problems:", source, problems.size());
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(ErrorCode::kInvalidInput, message);
  }
  return config;
}

}  // namespace matquant::model
