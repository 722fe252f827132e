// Token ids equal transformers' for Llama-style and Gemma-style tokenizers built from the same
// tokenizer.model (fixture: tests/reference/make_tokenizer_fixtures.py, transformers 5.17).
#include "model/tokenizer.h"

#include "common/error.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace matquant::model;
namespace fs = boost::filesystem;

namespace {

const std::string kFixtures = std::string(MATQUANT_FIXTURES_DIR) + "/tokenizer";
const std::string kRegenerate = "python3 tests/reference/make_tokenizer_fixtures.py (needs transformers: "
                                "scripts/install-reference-tools.sh)";

// A model directory as a checkpoint ships it: tokenizer.model, config.json and, unless null,
// tokenizer_config.json. Removed at the end of the test.
class ModelDirectory {
 public:
  ModelDirectory(const std::string& tokenizer_model, const nlohmann::json& config,
                 const nlohmann::json& tokenizer_config)
      : path_(fs::temp_directory_path() / fs::unique_path("matquant-tokenizer-%%%%-%%%%")) {
    fs::create_directories(path_);
    fs::copy_file(tokenizer_model, path_ / "tokenizer.model");
    std::ofstream((path_ / "config.json").string()) << config.dump();
    if (!tokenizer_config.is_null()) std::ofstream((path_ / "tokenizer_config.json").string()) << tokenizer_config.dump();
  }
  ~ModelDirectory() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

// ids split into (BOS present, the text's ids, EOS present), by the given tokenizer's own ids:
// transformers may give BOS an id beyond the vocabulary (GemmaTokenizer's "<bos>" added to a model
// whose BOS piece is "<s>"), which is still "BOS added".
struct SplitIds {
  bool bos = false;
  std::vector<int64_t> body;
  bool eos = false;
  bool operator==(const SplitIds& o) const { return bos == o.bos && body == o.body && eos == o.eos; }
};

SplitIds split_ids(std::vector<int64_t> ids, const nlohmann::json& bos_id, const nlohmann::json& eos_id) {
  SplitIds split;
  if (!ids.empty() && !bos_id.is_null() && ids.front() == bos_id.get<int64_t>()) {
    split.bos = true;
    ids.erase(ids.begin());
  }
  if (!ids.empty() && !eos_id.is_null() && ids.back() == eos_id.get<int64_t>()) {
    split.eos = true;
    ids.pop_back();
  }
  split.body = ids;
  return split;
}

std::ostream& operator<<(std::ostream& os, const SplitIds& s) {
  os << (s.bos ? "[BOS] " : "") << "[";
  for (size_t i = 0; i < s.body.size(); ++i) os << (i ? ", " : "") << s.body[i];
  return os << "]" << (s.eos ? " [EOS]" : "");
}

}  // namespace

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

// SentencePiece's default training normalization (nmt_nfkc + whitespace folding, as matquant's
// built-in models have) is replaced by identity, as transformers' tokenizers ignore it.
TEST(Tokenizer, NfkcModelIsEncodedWithoutNormalization) {
  const Tokenizer t = Tokenizer::load(kFixtures + "/nfkc/tokenizer.model", {false, false, PrefixStyle::kLlama});
  EXPECT_TRUE(t.normalizer_overridden());
  EXPECT_EQ(t.original_normalizer(), "nmt_nfkc");
  EXPECT_NE(t.normalizer_warning().find("nmt_nfkc"), std::string::npos);
  // Each pair is one text under NFKC / whitespace folding; without them they stay apart.
  EXPECT_NE(t.encode("\xEF\xAC\x81ne"), t.encode("fine"));             // U+FB01 ligature
  EXPECT_NE(t.encode("\xEF\xBD\x86ull"), t.encode("full"));            // full-width f
  EXPECT_NE(t.encode("two  spaces"), t.encode("two spaces"));
  EXPECT_NE(t.encode("trail "), t.encode("trail"));
  EXPECT_NE(t.encode("\xC3\x85"), t.encode("A\xCC\x8A"));              // Å composed, decomposed
  EXPECT_EQ(t.decode(t.encode("two  spaces ")), "two  spaces ");

  const Tokenizer identity = Tokenizer::load(kFixtures + "/tokenizer.model");
  EXPECT_FALSE(identity.normalizer_overridden());
  EXPECT_EQ(identity.original_normalizer(), "identity");
  EXPECT_EQ(identity.normalizer_warning(), "");
}

// transformers' ids for the nfkc model (format_version 2 entries), by class and through
// AutoTokenizer on directories with and without tokenizer_config.json.
TEST(Tokenizer, NfkcModelIdsMatchTransformers) {
  std::ifstream in(kFixtures + "/nfkc/expected_ids.json");
  ASSERT_TRUE(in) << "missing tests/fixtures/tokenizer/nfkc/expected_ids.json: run " << kRegenerate;
  const auto fixture = nlohmann::json::parse(in);
  ASSERT_EQ(fixture.at("format_version"), 2);
  if (fixture.contains("placeholder") || fixture.at("entries").empty()) {
    GTEST_SKIP() << "tests/fixtures/tokenizer/nfkc/expected_ids.json holds no transformers ids yet: run " << kRegenerate;
  }
  const std::string model = kFixtures + "/nfkc/tokenizer.model";
  int checked = 0;
  for (const auto& e : fixture.at("entries")) {
    const auto text = e.at("text").get<std::string>();
    const bool special = e.at("add_special_tokens").get<bool>();
    const auto expected = e.at("ids").get<std::vector<int64_t>>();
    const std::string loader = e.at("loader");
    if (loader == "AutoTokenizer") {
      const auto& d = e.at("directory");
      const ModelDirectory dir(model, {{"model_type", d.at("model_type")}}, d.at("tokenizer_config"));
      const Tokenizer t = Tokenizer::load_for_model(dir.path());
      EXPECT_EQ(split_ids(t.encode(text, special), t.bos_id(), t.eos_id()),
                split_ids(expected, e.at("bos_id"), e.at("eos_id")))
          << "AutoTokenizer " << d.dump() << " '" << text << "' add_special_tokens=" << special;
    } else {
      const Tokenizer t = Tokenizer::load(model, {false, false, e.at("style") == "gemma" ? PrefixStyle::kGemma
                                                                                          : PrefixStyle::kLlama});
      EXPECT_EQ(t.encode(text, special), expected) << loader << " '" << text << "'";
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// transformers 5 adds no BOS when tokenizer_config.json lacks add_bos_token or is absent (the
// AutoTokenizer entries of nfkc/expected_ids.json); the keys and tokenizer_class are honoured when present.
TEST(Tokenizer, LoadForModelDefaultsAndTokenizerClass) {
  const std::string model = kFixtures + "/tokenizer.model";
  const nlohmann::json llama = {{"model_type", "llama"}};
  {
    const ModelDirectory dir(model, llama, {{"tokenizer_class", "LlamaTokenizer"}});
    const Tokenizer t = Tokenizer::load_for_model(dir.path());
    EXPECT_FALSE(t.options().add_bos);
    EXPECT_FALSE(t.options().add_eos);
    EXPECT_EQ(t.encode("Hello world"), (std::vector<int64_t>{347, 393, 348, 307, 315}));
    EXPECT_EQ(t.normalizer_warning(), "");
  }
  {
    const ModelDirectory dir(model, llama, {{"tokenizer_class", "LlamaTokenizer"}, {"add_bos_token", true}});
    const Tokenizer t = Tokenizer::load_for_model(dir.path());
    EXPECT_EQ(t.encode("Hello world"), (std::vector<int64_t>{t.bos_id(), 347, 393, 348, 307, 315}));
  }
  {
    // No tokenizer_config.json: AutoTokenizer's generic reading, no BOS, nothing prepended; said once.
    const ModelDirectory dir(model, llama, nullptr);
    const Tokenizer t = Tokenizer::load_for_model(dir.path());
    EXPECT_FALSE(t.options().add_bos);
    EXPECT_TRUE(t.options().keep_model_charsmap);
    EXPECT_EQ(t.encode("Hello world"), (std::vector<int64_t>{393, 348, 307, 315}));
    EXPECT_NE(t.normalizer_warning().find("has no tokenizer_config.json"), std::string::npos) << t.normalizer_warning();
  }
  {
    // What matquant writes beside its own models: Llama's class, BOS added.
    const ModelDirectory dir(model, llama, nullptr);
    write_tokenizer_config(dir.path(), false);
    const Tokenizer t = Tokenizer::load_for_model(dir.path());
    EXPECT_EQ(t.encode("Hello world"), (std::vector<int64_t>{t.bos_id(), 347, 393, 348, 307, 315}));
  }
  {
    const ModelDirectory dir(model, llama, {{"add_bos_token", false}, {"add_eos_token", true}});
    const Tokenizer t = Tokenizer::load_for_model(dir.path());
    EXPECT_EQ(t.encode("a"), (std::vector<int64_t>{269, t.eos_id()}));
  }
  {
    // tokenizer_class wins over model_type, as in AutoTokenizer: gemma style, no "▁" prepended.
    const ModelDirectory dir(model, llama, {{"tokenizer_class", "GemmaTokenizerFast"}});
    const Tokenizer t = Tokenizer::load_for_model(dir.path());
    EXPECT_EQ(t.options().prefix, PrefixStyle::kGemma);
    EXPECT_EQ(t.encode("Hello world", false), (std::vector<int64_t>{393, 348, 307, 315}));
  }
  {
    const ModelDirectory dir(model, {{"model_type", "gemma2"}}, {{"tokenizer_class", "LlamaTokenizer"}});
    EXPECT_EQ(Tokenizer::load_for_model(dir.path()).options().prefix, PrefixStyle::kLlama);
  }
  {
    const ModelDirectory dir(model, {{"model_type", "gemma2"}}, nullptr);
    EXPECT_EQ(Tokenizer::load_for_model(dir.path()).options().prefix, PrefixStyle::kGemma);
  }
}
