// Parity with lm-evaluation-harness 0.4.13 (tests/reference/make_lm_eval_fixtures.py): the same
// token ids per request, log-likelihoods within 1e-4, the same is_greedy, acc and acc_norm, for a
// tiny Llama and a tiny Gemma-2 (sliding window shorter than the prompts), at batch size 1 without
// shared contexts and at 64 with them.
#include "eval/loglikelihood_engine.h"
#include "eval/multiple_choice_metrics.h"
#include "eval/task_registry.h"
#include "eval/zero_shot.h"
#include "model/pretrained.h"
#include "test_device.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <fstream>

namespace matquant::eval {
namespace {

const std::string kFixtures = MATQUANT_FIXTURES_DIR;

struct Family {
  std::string name;
  nlohmann::json expected;
  model::DecoderModel model{nullptr};
  std::unique_ptr<model::Tokenizer> tokenizer;
};

Family load_family(const std::string& name) {
  Family f;
  f.name = name;
  std::ifstream in(kFixtures + "/lm_eval/" + name + ".json");
  f.expected = nlohmann::json::parse(in);
  const std::string dir = kFixtures + "/lm_eval/models/" + name;
  f.model = model::load_pretrained(dir, {at::kFloat, testing::test_device()});
  f.tokenizer = std::make_unique<model::Tokenizer>(model::Tokenizer::load_for_model(dir));
  return f;
}

class LmEvalParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LmEvalParity, RequestsLoglikelihoodsAndAccuracies) {
  Family f = load_family(GetParam());
  const RequestBuilder builder(*f.tokenizer);
  for (const auto& [name, expected] : f.expected["tasks"].items()) {
    SCOPED_TRACE(f.name + "/" + name);
    const LoadedTask task = load_task(name, kFixtures + "/tasks/release");
    std::vector<TokenizedRequest> requests;
    std::vector<const nlohmann::json*> wanted;
    for (size_t d = 0; d < task.documents.size(); ++d) {
      for (size_t c = 0; c < task.documents[d].requests.size(); ++c) {
        const auto& [context, continuation] = task.documents[d].requests[c];
        requests.push_back(builder.build(context, continuation));
        wanted.push_back(&expected["documents"][d]["requests"][c]);
        EXPECT_EQ(requests.back().context, (*wanted.back())["context_ids"].get<std::vector<int64_t>>());
        EXPECT_EQ(requests.back().continuation, (*wanted.back())["continuation_ids"].get<std::vector<int64_t>>());
      }
    }
    EngineOptions one_by_one;
    one_by_one.batch_size = 1;
    one_by_one.share_contexts = false;
    EngineOptions shared;
    shared.batch_size = 64;
    for (const auto& options : {one_by_one, shared}) {
      double max_difference = 0.0;  // printed: the measured parity
      SCOPED_TRACE(options.share_contexts ? "batch 64, shared contexts" : "batch 1");
      const auto results = score_requests(f.model, requests, options);
      size_t next = 0;
      std::vector<double> acc, acc_norm;
      for (size_t d = 0; d < task.documents.size(); ++d) {
        std::vector<double> lls;
        for (size_t c = 0; c < task.documents[d].requests.size(); ++c, ++next) {
          const double diff = std::abs(results[next].loglikelihood - (*wanted[next])["loglikelihood"].get<double>());
          max_difference = std::max(max_difference, diff);
          EXPECT_LE(diff, 1e-4);
          EXPECT_EQ(results[next].is_greedy, (*wanted[next])["is_greedy"].get<bool>());
          lls.push_back(results[next].loglikelihood);
        }
        const auto score = score_document(task.documents[d], lls);
        const auto& doc = expected["documents"][d];
        EXPECT_EQ(score.acc, doc["acc"].get<double>()) << "document " << d;
        if (doc.contains("acc_norm")) EXPECT_EQ(score.acc_norm, doc["acc_norm"].get<double>()) << "document " << d;
        acc.push_back(score.acc);
        acc_norm.push_back(score.acc_norm);
      }
      std::cerr << f.name << "/" << name << (options.share_contexts ? " batch 64 shared" : " batch 1")
                << ": max |loglikelihood - lm-eval| = " << max_difference << "\n";
      EXPECT_DOUBLE_EQ(mean_with_error(acc).mean, expected["metrics"]["acc"].get<double>());
      EXPECT_NEAR(mean_with_error(acc).stderr_of_mean, expected["metrics"]["acc_stderr"].get<double>(), 1e-12);
      if (expected["metrics"].contains("acc_norm")) {
        EXPECT_DOUBLE_EQ(mean_with_error(acc_norm).mean, expected["metrics"]["acc_norm"].get<double>());
      }
    }
  }
}

TEST_P(LmEvalParity, DirectRequestsEmptyContextAndTrailingSpaces) {
  Family f = load_family(GetParam());
  const RequestBuilder builder(*f.tokenizer);
  std::vector<TokenizedRequest> requests;
  for (const auto& r : f.expected["direct_requests"]) {
    requests.push_back(builder.build(r["context"].get<std::string>(), r["continuation"].get<std::string>()));
    EXPECT_EQ(requests.back().context, r["context_ids"].get<std::vector<int64_t>>()) << r["context"];
    EXPECT_EQ(requests.back().continuation, r["continuation_ids"].get<std::vector<int64_t>>()) << r["context"];
  }
  const auto results = score_requests(f.model, requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_NEAR(results[i].loglikelihood, f.expected["direct_requests"][i]["loglikelihood"].get<double>(), 1e-4);
  }
}

TEST_P(LmEvalParity, EvaluateZeroShotReportsLmEvalMetrics) {
  Family f = load_family(GetParam());
  ZeroShotOptions options;
  for (const auto& name : known_task_names()) {
    if (!find_task(name).rolling) options.tasks.push_back(name);  // wikitext: test_wikitext.cpp
  }
  options.task_dir = kFixtures + "/tasks/hf";
  options.engine.batch_size = 7;
  const auto result = evaluate_zero_shot(f.model, *f.tokenizer, options);
  EXPECT_TRUE(result.failures.empty());
  const auto& metrics = result.metrics;
  size_t checked = 0;
  size_t counted = 0;
  for (const auto& m : metrics) {
    if (m.metric == "documents") {  // ours, not lm-eval's: the document count the report checks
      EXPECT_EQ(m.value, double(f.expected["tasks"][m.task]["documents"].size())) << m.task;
      ++counted;
      continue;
    }
    const auto& want = f.expected["tasks"][m.task]["metrics"];
    ASSERT_TRUE(want.contains(m.metric)) << m.task << " " << m.metric;
    EXPECT_NEAR(m.value, want[m.metric].get<double>(), 1e-12) << m.task << " " << m.metric;
    ++checked;
  }
  EXPECT_EQ(checked, 8u * 2 + 5u * 2);  // acc + stderr for 8 tasks; acc_norm + stderr for 5
  EXPECT_EQ(counted, 8u);
}

INSTANTIATE_TEST_SUITE_P(Families, LmEvalParity, ::testing::Values("llama", "gemma2"));

}  // namespace
}  // namespace matquant::eval
