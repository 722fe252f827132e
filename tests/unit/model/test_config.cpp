#include "model/config.h"

#include "common/error.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <fstream>

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
