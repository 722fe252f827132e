// WikiText-2 perplexity against lm-evaluation-harness 0.4.13's stock `wikitext` task
// (tests/reference/make_lm_eval_wikitext_fixtures.py, tests/fixtures/lm_eval/wikitext.json): the
// detokenizer on hand-written strings, the document split of wiki.test.raw, the token ids and rolling
// windows (max_length 32), per-window and per-document log-likelihoods within 1e-4, and
// word_perplexity / byte_perplexity / bits_per_byte within 1e-6 relative, for a tiny Llama and a tiny
// Gemma-2 (sliding window 8, shorter than a window).
#include "common/error.h"
#include "eval/python_text.h"
#include "eval/rolling_perplexity.h"
#include "eval/rolling_windows.h"
#include "eval/task_directory_check.h"
#include "eval/task_registry.h"
#include "eval/wikitext.h"
#include "model/pretrained.h"
#include "test_device.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iostream>

namespace matquant::eval {
namespace {

const std::string kFixtures = MATQUANT_FIXTURES_DIR;

const nlohmann::json& fixture() {
  static const nlohmann::json value = [] {
    std::ifstream in(kFixtures + "/lm_eval/wikitext.json");
    return nlohmann::json::parse(in);
  }();
  return value;
}

double relative(double a, double b) { return std::abs(a - b) / std::abs(b); }

TEST(Wikitext, DetokenizerMatchesLmEval) {
  for (const auto& c : fixture()["detokenizer"]) {
    const auto input = c["input"].get<std::string>();
    EXPECT_EQ(wikitext_detokenize(input), c["output"].get<std::string>()) << input;
    EXPECT_EQ(python_whitespace_split_count(input), c["words"].get<int64_t>()) << input;
  }
}

TEST(Wikitext, RawFileSplitsIntoTheDocumentLevelPages) {
  std::ifstream in(kFixtures + "/tasks/release/wikitext/wiki.test.raw");
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto pages = split_wikitext_pages(raw);
  const auto& want = fixture()["pages"];
  ASSERT_EQ(pages.size(), want.size());
  for (size_t i = 0; i < pages.size(); ++i) EXPECT_EQ(pages[i].page, want[i].get<std::string>());
  EXPECT_EQ(pages[1].line, 15);  // " = Café Ortega = "
  // Section headings stay inside their article; a blank leading page is dropped, the last is kept.
  EXPECT_EQ(split_wikitext_pages(" \n = A = \n x \n = = B = = \n y ").size(), 1u);
  EXPECT_EQ(split_wikitext_pages("").size(), 1u);
  EXPECT_EQ(split_wikitext_pages(" = A = \r\n a\r\n = B = \r\n b").at(1).page, " = B = \n b");
}

TEST(Wikitext, ReleaseAndExportLoadTheSameDocuments) {
  for (const std::string dir : {"/tasks/release", "/tasks/hf"}) {
    const LoadedTask task = load_task("wikitext", kFixtures + dir);
    EXPECT_TRUE(task.rolling);
    EXPECT_EQ(task.split, "test");
    const auto& docs = fixture()["families"]["llama"]["documents"];
    ASSERT_EQ(task.documents.size(), docs.size()) << dir;
    for (size_t d = 0; d < docs.size(); ++d) {
      EXPECT_EQ(task.documents[d].rolling_target, docs[d]["target"].get<std::string>());
      EXPECT_EQ(task.documents[d].words, docs[d]["words"].get<int64_t>());
      EXPECT_EQ(task.documents[d].bytes, docs[d]["bytes"].get<int64_t>());
    }
  }
}

TEST(Wikitext, DataCheckCountsTheWikitextFile) {
  bool seen = false;
  for (const auto& status : check_task_directory(kFixtures + "/tasks/release")) {
    if (status.task != "wikitext") continue;
    seen = true;
    EXPECT_TRUE(status.found);
    EXPECT_TRUE(status.error.empty()) << status.error;
    EXPECT_EQ(status.documents, 3);
    EXPECT_NE(status.path.find("wikitext/wiki.test.raw"), std::string::npos);
  }
  EXPECT_TRUE(seen);
}

TEST(Wikitext, ExportWithoutPageNamesFileLineAndField) {
  const auto dir = boost::filesystem::temp_directory_path() / boost::filesystem::unique_path("wikitext-%%%%%%");
  boost::filesystem::create_directories(dir / "wikitext");
  std::ofstream((dir / "wikitext" / "test.jsonl").string()) << "{\"page\": \" = A = \"}\n{\"text\": \"x\"}\n";
  try {
    load_task("wikitext", dir.string());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wikitext/test.jsonl:2: page"), std::string::npos) << e.what();
  }
  boost::filesystem::remove_all(dir);
}

TEST(Wikitext, MetricFormulasAreLmEvalsOnItsOwnLoglikelihoods) {
  for (const auto& [family, f] : fixture()["families"].items()) {
    PerplexityTotals totals;
    for (const auto& doc : f["documents"]) {
      totals.loglikelihood += doc["loglikelihood"].get<double>();
      totals.words += doc["words"].get<int64_t>();
      totals.bytes += doc["bytes"].get<int64_t>();
      totals.tokens += int64_t(doc["token_ids"].size());
    }
    for (const auto& m : perplexity_metrics("wikitext", totals)) {
      if (f["metrics"].contains(m.metric)) {
        EXPECT_LE(relative(m.value, f["metrics"][m.metric].get<double>()), 1e-12) << family << " " << m.metric;
      }
    }
  }
}

TEST(Wikitext, MaxLengthDefaultsToPositionsCappedAt2048) {
  model::ModelConfig config;
  config.max_position_embeddings = 8192;
  EXPECT_EQ(resolve_max_length(config, 0), 2048);
  EXPECT_EQ(resolve_max_length(config, 4096), 4096);
  config.max_position_embeddings = 512;
  EXPECT_EQ(resolve_max_length(config, 0), 512);
  config.max_position_embeddings = 0;
  EXPECT_EQ(resolve_max_length(config, 0), 2048);
}

class WikitextParity : public ::testing::TestWithParam<std::string> {};

TEST_P(WikitextParity, TokensWindowsAndLoglikelihoods) {
  const auto& f = fixture()["families"][GetParam()];
  const std::string dir = kFixtures + "/lm_eval/models/" + GetParam();
  auto model = model::load_pretrained(dir, {at::kFloat, testing::test_device()});
  const auto tokenizer = model::Tokenizer::load_for_model(dir);
  const RequestBuilder builder(tokenizer);
  ASSERT_EQ(builder.prefix_token_id(), f["prefix_token_id"].get<int64_t>());
  const int64_t max_length = f["max_length"].get<int64_t>();
  std::vector<std::string> texts;
  double max_difference = 0.0;
  for (const auto& doc : f["documents"]) {
    const auto text = doc["target"].get<std::string>();
    texts.push_back(text);
    const auto tokens = builder.encode_default(text);
    ASSERT_EQ(tokens, doc["token_ids"].get<std::vector<int64_t>>());
    const auto windows = rolling_windows(tokens, builder.prefix_token_id(), max_length);
    ASSERT_EQ(windows.size(), doc["windows"].size());
    for (size_t w = 0; w < windows.size(); ++w) {
      EXPECT_EQ(windows[w].context, doc["windows"][w]["context_ids"].get<std::vector<int64_t>>()) << w;
      EXPECT_EQ(windows[w].continuation, doc["windows"][w]["continuation_ids"].get<std::vector<int64_t>>()) << w;
    }
    EngineOptions engine;
    engine.max_length = max_length;
    const auto results = score_requests(model, windows, engine);
    for (size_t w = 0; w < windows.size(); ++w) {
      const double diff = std::abs(results[w].loglikelihood - doc["windows"][w]["loglikelihood"].get<double>());
      max_difference = std::max(max_difference, diff);
      EXPECT_LE(diff, 1e-4) << "window " << w;
    }
  }
  for (const bool shared : {false, true}) {
    EngineOptions engine;
    engine.max_length = max_length;
    engine.share_contexts = shared;
    engine.batch_size = shared ? 64 : 1;
    const auto scores = score_rolling(model, builder, texts, engine);
    for (size_t d = 0; d < scores.size(); ++d) {
      const auto& doc = f["documents"][d];
      const double diff = std::abs(scores[d].loglikelihood - doc["loglikelihood"].get<double>());
      max_difference = std::max(max_difference, diff);
      EXPECT_LE(diff, 1e-4) << "document " << d << (shared ? " shared" : "");
      EXPECT_EQ(scores[d].tokens, int64_t(doc["token_ids"].size()));
    }
  }
  std::cerr << GetParam() << " wikitext: max |loglikelihood - lm-eval| = " << max_difference << "\n";
}

TEST_P(WikitextParity, EvaluateReportsLmEvalMetrics) {
  const auto& f = fixture()["families"][GetParam()];
  const std::string dir = kFixtures + "/lm_eval/models/" + GetParam();
  auto model = model::load_pretrained(dir, {at::kFloat, testing::test_device()});
  const auto tokenizer = model::Tokenizer::load_for_model(dir);
  for (const std::string tasks : {"/tasks/release", "/tasks/hf"}) {
    ZeroShotOptions options;
    options.tasks = {"wikitext"};
    options.task_dir = kFixtures + tasks;
    options.engine.max_length = f["max_length"].get<int64_t>();
    options.engine.batch_size = 5;
    const auto metrics = evaluate_zero_shot(model, tokenizer, options).metrics;
    ASSERT_EQ(metrics.size(), 5u);
    double loglikelihood = 0.0;
    int64_t tokens = 0;
    for (const auto& doc : f["documents"]) {
      loglikelihood += doc["loglikelihood"].get<double>();
      tokens += int64_t(doc["token_ids"].size());
    }
    for (const auto& m : metrics) {
      EXPECT_EQ(m.task, "wikitext");
      if (f["metrics"].contains(m.metric)) {
        const double r = relative(m.value, f["metrics"][m.metric].get<double>());
        EXPECT_LE(r, 1e-6) << m.metric;
        std::cerr << GetParam() << " " << m.metric << ": relative difference " << r << "\n";
      } else if (m.metric == "log_pplx") {
        EXPECT_LE(relative(m.value, -loglikelihood / double(tokens)), 1e-6);
      } else {
        EXPECT_EQ(m.metric, "token_perplexity");
        EXPECT_LE(relative(m.value, std::exp(-loglikelihood / double(tokens))), 1e-6);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, WikitextParity, ::testing::Values("llama", "gemma2"));

}  // namespace
}  // namespace matquant::eval
