#pragma once
// A decoder's configuration as read from a Hugging Face config.json. Family files
// (lib/model/family_*.cpp) fill the family-specific traits; everything else is shared.
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace matquant::model {

enum class Activation { kSilu, kGeluTanh };

struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool attention_bias = false;   // q, k, v, o biases (Llama's attention_bias)
  bool qkv_bias = false;         // q, k, v biases only (Qwen2)
  bool mlp_bias = false;
  Activation activation = Activation::kSilu;
  std::optional<int64_t> sliding_window;
  std::vector<bool> layer_uses_sliding_window;  // one per layer
  // Gemma-2 specifics.
  bool norm_adds_one = false;       // RMSNorm scaled by (1 + w)
  bool sandwich_norms = false;      // norms after attention and MLP as well as before
  bool scale_embeddings = false;    // embeddings times sqrt(hidden)
  double attention_scale = 0.0;     // 1/sqrt(query_pre_attn_scalar or head_dim)
  std::optional<double> attn_logit_softcapping;
  std::optional<double> final_logit_softcapping;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;
  std::optional<int64_t> pad_token_id;

  nlohmann::json raw;  // config.json as read, written back unchanged when saving
};

// Reads DIR/config.json (or a config.json path) and dispatches on model_type through the family
// registry. Errors name the file and the field.
ModelConfig load_config(const std::string& path);
// The same from an already-parsed config.json (e.g. one stored in a checkpoint); `source` names it
// in errors.
ModelConfig parse_config(const nlohmann::json& raw, const std::string& source);

// Field readers used by family files. A problem (missing field, wrong type, value out of range) is
// recorded, not thrown, and the reader returns the fallback so parsing goes on: parse_config then
// throws kInvalidInput listing every field's problem at once, each as "SOURCE: FIELD: message".
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& json, std::string source, std::vector<std::string>& problems,
               std::string prefix = "");
  int64_t integer(const std::string& key) const;  // required: 0 and a problem when missing
  int64_t integer(const std::string& key, int64_t fallback) const;
  double number(const std::string& key, double fallback) const;
  std::optional<double> optional_number(const std::string& key) const;
  std::optional<int64_t> optional_integer(const std::string& key) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  bool has(const std::string& key) const { return json_.contains(key) && !json_[key].is_null(); }
  // A reader for the object under `key` (e.g. rope_scaling); its fields are named "key.field".
  ConfigReader nested(const std::string& key) const;
  const nlohmann::json& json() const { return json_; }
  const std::string& source() const { return source_; }
  // Records `message` for `key`; a field keeps only its first problem.
  void report(const std::string& key, const std::string& message) const;
  bool reported(const std::string& key) const;

 private:
  const nlohmann::json& json_;
  std::string source_;
  std::vector<std::string>& problems_;
  std::string prefix_;
};

// The fields every decoder family shares (sizes, norms, RoPE, ids, sliding-window layout).
void read_common_fields(const ConfigReader& reader, ModelConfig& config);
// Reads layer_types ("sliding_attention"/"full_attention") when present, else `fallback(layer)`.
void read_layer_types(const ConfigReader& reader, ModelConfig& config,
                      const std::function<bool(int64_t)>& fallback);

// Largest accepted sizes (docs/model-parity.md, "config.json checks"): widths, heads and the
// vocabulary stay in int32 so products of two of them cannot overflow int64; layers are bounded
// so a typo cannot build millions of modules (the largest public decoders have ~130).
constexpr int64_t kMaxConfigWidth = (int64_t{1} << 31) - 1;
constexpr int64_t kMaxConfigLayers = 65536;
// Range checks on every value a division, a shape or an index depends on; config_checks.cpp.
// `check_shared_values` runs before the family parser, `check_family_values` after it.
void check_shared_values(const ConfigReader& reader, ModelConfig& config);
void check_family_values(const ConfigReader& reader, const ModelConfig& config);

}  // namespace matquant::model
