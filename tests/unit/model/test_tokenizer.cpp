// Token ids equal transformers' for Llama-style and Gemma-style tokenizers built from the same
// tokenizer.model (fixture: tests/reference/make_tokenizer_fixtures.py, transformers 5.17).
#include "model/tokenizer.h"

#include "common/error.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace matquant::model;

TEST(Tokenizer, IdsMatchTransformersForEveryFixtureString) {
  const std::string dir = std::string(MATQUANT_FIXTURES_DIR) + "/tokenizer";
  std::ifstream in(dir + "/expected_ids.json");
  const auto fixture = nlohmann::json::parse(in);
  ASSERT_EQ(fixture.at("format_version"), 1);
  // The fixture has no tokenizer_config.json: transformers then adds no BOS.
  const Tokenizer llama = Tokenizer::load(dir + "/tokenizer.model", {false, false, PrefixStyle::kLlama});
  const Tokenizer gemma = Tokenizer::load(dir + "/tokenizer.model", {false, false, PrefixStyle::kGemma});
  int checked = 0;
  for (const auto& e : fixture.at("entries")) {
    const Tokenizer& t = e.at("style") == "gemma" ? gemma : llama;
    const auto expected = e.at("ids").get<std::vector<int64_t>>();
    EXPECT_EQ(t.encode(e.at("text").get<std::string>(), e.at("add_special_tokens").get<bool>()), expected)
        << e.at("style") << " '" << e.at("text").get<std::string>() << "'";
    ++checked;
  }
  EXPECT_EQ(checked, 60);
}

TEST(Tokenizer, BosAndEosFollowTheOptions) {
  const std::string path = std::string(MATQUANT_FIXTURES_DIR) + "/tokenizer/tokenizer.model";
  const Tokenizer t = Tokenizer::load(path, {true, true, PrefixStyle::kLlama});
  const auto ids = t.encode("Hello world");
  EXPECT_EQ(ids.front(), t.bos_id());
  EXPECT_EQ(ids.back(), t.eos_id());
  EXPECT_EQ(t.encode("Hello world", false).size() + 2, ids.size());
  EXPECT_EQ(t.encode("", true), (std::vector<int64_t>{t.bos_id(), t.eos_id()}));
  EXPECT_EQ(t.decode(t.encode("The sailor finds the bridge.", false)), "The sailor finds the bridge.");
}

TEST(Tokenizer, MissingOrBrokenModelIsAClearError) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.model"), matquant::Error);
  EXPECT_THROW(Tokenizer::load(std::string(MATQUANT_FIXTURES_DIR) + "/models/llama/config.json"), matquant::Error);
}
