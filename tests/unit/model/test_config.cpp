#include "model/config.h"

#include "common/error.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <fstream>
#include <tuple>

using namespace matquant::model;

namespace {

std::string write_config(const std::string& name, const std::string& text) {
  const auto dir = boost::filesystem::temp_directory_path() / ("matquant_config_" + name);
  boost::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << text;
  return dir.string();
}

std::string error_of(const std::string& dir) {
  try {
    load_config(dir);
  } catch (const matquant::Error& e) {
    return e.what();
  }
  return "";
}

const char* kLlama = R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "rope_theta": 500000.0,
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})";

}  // namespace

TEST(ModelConfig, ReadsLlamaWithRopeScaling) {
  const ModelConfig c = load_config(write_config("llama", kLlama));
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.rope.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
}

TEST(ModelConfig, Gemma2DefaultsAlternateSlidingLayers) {
  const ModelConfig c = load_config(write_config("gemma2", R"({"model_type": "gemma2",
    "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
    "query_pre_attn_scalar": 256, "sliding_window": 4096, "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0})"));
  EXPECT_EQ(c.layer_uses_sliding_window, (std::vector<bool>{true, false, true, false}));
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.attention_scale, 1.0 / 16.0);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
}

TEST(ModelConfig, ErrorsNameTheFileAndField) {
  const std::string missing = error_of(write_config("missing", R"({"model_type": "llama"})"));
  EXPECT_NE(missing.find("config.json"), std::string::npos) << missing;
  EXPECT_NE(missing.find("vocab_size"), std::string::npos) << missing;

  const std::string unknown = error_of(write_config("unknown", R"({"model_type": "bert"})"));
  EXPECT_NE(unknown.find("gemma2"), std::string::npos) << unknown;  // lists the known families

  const std::string typed = error_of(write_config("typed", R"({"model_type": "llama",
    "vocab_size": "many"})"));
  EXPECT_NE(typed.find("expected an integer"), std::string::npos) << typed;

  const std::string broken = error_of(write_config("broken", "{"));
  EXPECT_NE(broken.find("not valid JSON"), std::string::npos) << broken;

  EXPECT_THROW(load_config("/nonexistent/model"), matquant::Error);
}

// Every value a division, a shape or an index depends on is checked when config.json is read:
// one "FILE: FIELD: message" per bad field, all of them in one kInvalidInput (issue 14: heads 0
// divided hidden_size by zero, SIGFPE in forward and train).
namespace {

// kLlama (4 heads of 16 over hidden 64, 2 KV heads) with `patch` merged in; nulls remove a key.
std::string error_of_patched(const nlohmann::json& patch, const char* base = kLlama) {
  nlohmann::json raw = nlohmann::json::parse(base);
  raw.merge_patch(patch);
  try {
    parse_config(raw, "m/config.json");
  } catch (const matquant::Error& e) {
    EXPECT_EQ(e.code(), matquant::ErrorCode::kInvalidInput) << e.what();
    return e.what();
  }
  return "";
}

const char* kGemma2 = R"({"model_type": "gemma2", "vocab_size": 100, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
  "num_key_value_heads": 2, "head_dim": 32, "query_pre_attn_scalar": 256, "sliding_window": 4096,
  "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0})";

}  // namespace

TEST(ModelConfigChecks, EachBadFieldIsOneLineNamingFileAndField) {
  const std::vector<std::tuple<nlohmann::json, std::string, const char*>> cases = {
      {{{"num_attention_heads", 0}}, "num_attention_heads: must be at least 1, got 0", kLlama},
      {{{"num_attention_heads", -4}}, "num_attention_heads: must be at least 1, got -4", kLlama},
      {{{"num_key_value_heads", 0}}, "num_key_value_heads: must be at least 1, got 0", kLlama},
      {{{"num_key_value_heads", 3}}, "num_key_value_heads: 3 does not divide num_attention_heads (4)", kLlama},
      {{{"hidden_size", 0}}, "hidden_size: must be at least 1, got 0", kLlama},
      {{{"hidden_size", 66}}, "hidden_size: 66 is not divisible by num_attention_heads (4)", kLlama},
      {{{"hidden_size", 60}}, "hidden_size: 60 / num_attention_heads (4) gives an odd head_dim 15", kLlama},
      {{{"head_dim", 0}}, "head_dim: must be at least 1, got 0", kLlama},
      {{{"head_dim", 15}}, "head_dim: must be even", kLlama},
      {{{"intermediate_size", 0}}, "intermediate_size: must be at least 1, got 0", kLlama},
      {{{"num_hidden_layers", 0}}, "num_hidden_layers: must be at least 1, got 0", kLlama},
      {{{"num_hidden_layers", 1000000}}, "num_hidden_layers: must be at most 65536, got 1000000", kLlama},
      {{{"vocab_size", 0}}, "vocab_size: must be at least 1, got 0", kLlama},
      {{{"vocab_size", int64_t{1} << 40}}, "vocab_size: must be at most 2147483647", kLlama},
      {{{"max_position_embeddings", 0}}, "max_position_embeddings: must be at least 1, got 0", kLlama},
      {{{"rms_norm_eps", 0.0}}, "rms_norm_eps: must be a positive number, got 0", kLlama},
      {{{"rms_norm_eps", -1e-6}}, "rms_norm_eps: must be a positive number", kLlama},
      {{{"rope_theta", 0.0}}, "rope_theta: must be a positive number, got 0", kLlama},
      {{{"rope_scaling", {{"factor", 0.0}}}}, "rope_scaling.factor: must be a positive number", kLlama},
      {{{"rope_scaling", {{"high_freq_factor", 1.0}}}},
       "rope_scaling.high_freq_factor: must be greater than low_freq_factor (1), got 1", kLlama},
      {{{"rope_scaling", {{"original_max_position_embeddings", 0}}}},
       "rope_scaling.original_max_position_embeddings: must be at least 1, got 0", kLlama},
      {{{"rope_scaling", "llama3"}}, "rope_scaling: expected an object", kLlama},
      {{{"bos_token_id", 100}}, "bos_token_id: 100 is not a token id of a 100-token vocabulary", kLlama},
      {{{"eos_token_id", {-1, 2}}}, "eos_token_id: -1 is not a token id", kLlama},
      {{{"pad_token_id", 250}}, "pad_token_id: 250 is not a token id", kLlama},
      {{{"vocab_size", 12.5}}, "vocab_size: expected an integer, got 12.5", kLlama},
      {{{"sliding_window", 0}}, "sliding_window: must be at least 1, got 0", kGemma2},
      {{{"attn_logit_softcapping", 0.0}}, "attn_logit_softcapping: must be a positive number, got 0", kGemma2},
      {{{"final_logit_softcapping", -30.0}}, "final_logit_softcapping: must be a positive number", kGemma2},
      {{{"query_pre_attn_scalar", 0}}, "query_pre_attn_scalar: must be a positive number, got 0", kGemma2},
      {{{"layer_types", {"full_attention"}}}, "layer_types: has 1 entries for 4 layers", kGemma2},
      {{{"layer_types", "full_attention"}}, "layer_types: expected a list", kGemma2},
  };
  for (const auto& [patch, expected, base] : cases) {
    const std::string message = error_of_patched(patch, base);
    EXPECT_EQ(message.rfind("m/config.json: " + expected, 0), 0u) << patch.dump() << "\n  got: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one field, one line: " << message;
  }
}

TEST(ModelConfigChecks, AllProblemsAreReportedAtOnce) {
  const std::string message = error_of_patched(
      {{"num_attention_heads", 0}, {"vocab_size", -1}, {"rms_norm_eps", 0.0}, {"num_hidden_layers", "two"}});
  EXPECT_EQ(message.rfind("m/config.json: 4 problems:", 0), 0u) << message;
  for (const char* line : {"\n  m/config.json: num_attention_heads: must be at least 1, got 0",
                           "\n  m/config.json: vocab_size: must be at least 1, got -1",
                           "\n  m/config.json: rms_norm_eps: must be a positive number, got 0",
                           "\n  m/config.json: num_hidden_layers: expected an integer, got \"two\""}) {
    EXPECT_NE(message.find(line), std::string::npos) << line << "\n  in: " << message;
  }
  // A field is reported once, by its first problem (a missing field is not also "at least 1").
  const std::string missing = error_of_patched({{"hidden_size", nullptr}});
  EXPECT_EQ(missing, "m/config.json: hidden_size: required field is missing");
}

TEST(ModelConfigChecks, ValidEdgeValuesStillLoad) {
  // head_dim given explicitly need not be hidden_size / heads (Gemma-2 9B: 16 x 256 over 3584).
  EXPECT_EQ(error_of_patched({{"hidden_size", 66}, {"head_dim", 16}}), "");
  // pad_token_id -1 means "none" in some exports; sizes written as 64.0 are integers.
  EXPECT_EQ(error_of_patched({{"pad_token_id", -1}, {"hidden_size", 64.0}}), "");
  EXPECT_EQ(error_of_patched({{"eos_token_id", {99, 2}}}), "");
  EXPECT_EQ(error_of_patched(nlohmann::json::object(), kGemma2), "");
}
