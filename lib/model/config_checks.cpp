// Range checks on config.json values that a division, a tensor shape or an index depends on, so a
// bad value is a kInvalidInput naming the field instead of a SIGFPE or an allocator failure later
// (num_attention_heads: 0 divided hidden_size by zero). Limits: docs/model-parity.md.
#include "model/config.h"

#include <fmt/format.h>

#include <cmath>

namespace matquant::model {

namespace {

// An integer field in 1..limit; false (and one problem) otherwise.
bool check_size(const ConfigReader& reader, const std::string& key, int64_t value, int64_t limit) {
  if (reader.reported(key)) return false;
  if (value < 1) {
    reader.report(key, fmt::format("must be at least 1, got {}", value));
    return false;
  }
  if (value > limit) {
    reader.report(key, fmt::format("must be at most {}, got {}", limit, value));
    return false;
  }
  return true;
}

// A real field that must be finite and > 0 (norm epsilons, RoPE base, softcaps, scales).
void check_positive(const ConfigReader& reader, const std::string& key, double value) {
  if (!reader.reported(key) && !(std::isfinite(value) && value > 0)) {
    reader.report(key, fmt::format("must be a positive number, got {}", value));
  }
}

// A token id that indexes the embedding table.
void check_token_id(const ConfigReader& reader, const std::string& key, const std::optional<int64_t>& id,
                    int64_t vocab_size, bool vocab_ok) {
  if (!id || reader.reported(key)) return;
  if (*id < 0 || (vocab_ok && *id >= vocab_size)) {
    reader.report(key, fmt::format("{} is not a token id of a {}-token vocabulary (vocab_size)", *id, vocab_size));
  }
}

}  // namespace

void check_shared_values(const ConfigReader& reader, ModelConfig& config) {
  const bool vocab_ok = check_size(reader, "vocab_size", config.vocab_size, kMaxConfigWidth);
  const bool hidden_ok = check_size(reader, "hidden_size", config.hidden_size, kMaxConfigWidth);
  check_size(reader, "intermediate_size", config.intermediate_size, kMaxConfigWidth);
  // Per-layer lists are sized by this count: keep a bad one out of the family parser.
  if (!check_size(reader, "num_hidden_layers", config.num_hidden_layers, kMaxConfigLayers)) config.num_hidden_layers = 0;
  const bool heads_ok = check_size(reader, "num_attention_heads", config.num_attention_heads, kMaxConfigWidth);
  // num_key_value_heads defaults to num_attention_heads: a bad head count is reported once.
  const bool kv_ok = reader.has("num_key_value_heads")
                         ? check_size(reader, "num_key_value_heads", config.num_key_value_heads, kMaxConfigWidth)
                         : heads_ok;
  if (heads_ok && kv_ok && config.num_attention_heads % config.num_key_value_heads != 0) {
    // Grouped-query attention repeats each key/value head for a whole group of query heads.
    reader.report("num_key_value_heads", fmt::format("{} does not divide num_attention_heads ({})",
                                                     config.num_key_value_heads, config.num_attention_heads));
  }
  if (reader.has("head_dim")) {
    if (check_size(reader, "head_dim", config.head_dim, kMaxConfigWidth) && config.head_dim % 2 != 0) {
      reader.report("head_dim", fmt::format("must be even (RoPE rotates pairs of dimensions), got {}", config.head_dim));
    }
  } else if (heads_ok && hidden_ok && config.hidden_size % config.num_attention_heads != 0) {
    reader.report("hidden_size", fmt::format("{} is not divisible by num_attention_heads ({}) and no head_dim is given",
                                             config.hidden_size, config.num_attention_heads));
  } else if (heads_ok && hidden_ok && config.head_dim % 2 != 0) {
    reader.report("hidden_size", fmt::format("{} / num_attention_heads ({}) gives an odd head_dim {}; RoPE needs an "
                                             "even one", config.hidden_size, config.num_attention_heads, config.head_dim));
  }
  check_size(reader, "max_position_embeddings", config.max_position_embeddings, INT64_MAX);
  check_positive(reader, "rms_norm_eps", config.rms_norm_eps);
  const std::string rope_key = reader.has("rope_parameters") ? "rope_parameters." : "rope_scaling.";
  const std::string rope_object = rope_key.substr(0, rope_key.size() - 1);
  const bool theta_nested = reader.has(rope_object) && reader.json()[rope_object].is_object() &&
                            reader.json()[rope_object].contains("rope_theta");
  check_positive(reader, theta_nested ? rope_key + "rope_theta" : "rope_theta", config.rope.theta);
  if (config.rope.type == "linear" || config.rope.type == "llama3") {
    check_positive(reader, rope_key + "factor", config.rope.factor);
  }
  if (config.rope.type == "llama3") {
    // Llama 3.1's blend divides by high_freq_factor - low_freq_factor and by both factors.
    check_positive(reader, rope_key + "low_freq_factor", config.rope.low_freq_factor);
    if (!(config.rope.high_freq_factor > config.rope.low_freq_factor)) {
      reader.report(rope_key + "high_freq_factor",
                    fmt::format("must be greater than low_freq_factor ({}), got {}", config.rope.low_freq_factor,
                                config.rope.high_freq_factor));
    }
    check_size(reader, rope_key + "original_max_position_embeddings", config.rope.original_max_position_embeddings,
               INT64_MAX);
  }
  check_token_id(reader, "bos_token_id", config.bos_token_id, config.vocab_size, vocab_ok);
  check_token_id(reader, "eos_token_id", config.eos_token_id, config.vocab_size, vocab_ok);
  // Some exporters write pad_token_id: -1 for "none"; only an id past the vocabulary is an error.
  if (config.pad_token_id && *config.pad_token_id >= 0) {
    check_token_id(reader, "pad_token_id", config.pad_token_id, config.vocab_size, vocab_ok);
  }
}

void check_family_values(const ConfigReader& reader, const ModelConfig& config) {
  if (config.sliding_window) check_size(reader, "sliding_window", *config.sliding_window, INT64_MAX);
  if (config.attn_logit_softcapping) check_positive(reader, "attn_logit_softcapping", *config.attn_logit_softcapping);
  if (config.final_logit_softcapping) check_positive(reader, "final_logit_softcapping", *config.final_logit_softcapping);
  // Gemma-2 scales scores by query_pre_attn_scalar^-1/2; others by head_dim^-1/2 (checked above).
  if (reader.has("query_pre_attn_scalar") && !(std::isfinite(config.attention_scale) && config.attention_scale > 0)) {
    reader.report("query_pre_attn_scalar", "must be a positive number, got " + reader.json()["query_pre_attn_scalar"].dump());
  }
  if (config.num_hidden_layers > 0 && int64_t(config.layer_uses_sliding_window.size()) != config.num_hidden_layers) {
    reader.report("num_hidden_layers", fmt::format("the family set {} per-layer attention kinds for {} layers",
                                                   config.layer_uses_sliding_window.size(), config.num_hidden_layers));
  }
}

}  // namespace matquant::model
