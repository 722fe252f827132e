// What `matquant eval` writes as it goes: the lm-eval-shaped results file, rewritten after every
// group of metrics, and the dtype the unquantized rows really run in.
#include "jobs/eval_results_file.h"
#include "jobs/jobs.h"
#include "test_device.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace matquant;

namespace {

namespace fs = boost::filesystem;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(EvalResultsFile, IsRewrittenAfterEveryTaskInLmEvalShape) {
  const fs::path dir = fs::temp_directory_path() / fs::unique_path("matquant-results-%%%%%%");
  const std::string path = (dir / "sub" / "results.json").string();
  jobs::EvalResultsFile file(path, {{"model", "matquant"}, {"precision", "bf16"}});
  EXPECT_TRUE(read_json(path)["results"].empty());  // written at once: an unwritable path fails before any work
  file.add({{"bf16", "boolq", "acc", 0.75}, {"bf16", "boolq", "acc_stderr", 0.25}, {"bf16", "boolq", "documents", 4}});
  nlohmann::json written = read_json(path);
  EXPECT_EQ(written["results"]["boolq"]["acc,none"], 0.75);
  EXPECT_EQ(written["results"]["boolq"]["acc_stderr,none"], 0.25);
  EXPECT_EQ(written["results"]["boolq"]["alias"], "boolq");
  EXPECT_EQ(written["n-samples"]["boolq"]["effective"], 4);
  EXPECT_EQ(written["config"]["precision"], "bf16");
  file.add({{"bf16", "weights", "parameters", 125248}, {"bf16", "validation", "log_pplx", 2.5}});
  file.add_failures("bf16 piqa: piqa.jsonl: document 2 (line 3) ...");
  written = read_json(path);
  EXPECT_EQ(written["results"]["boolq"]["acc,none"], 0.75);  // earlier tasks kept
  EXPECT_EQ(written["results"]["validation"]["log_pplx,none"], 2.5);
  EXPECT_EQ(written["weights"]["parameters"], 125248);
  EXPECT_EQ(written["failures"], "bf16 piqa: piqa.jsonl: document 2 (line 3) ...");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  fs::remove_all(dir);
  EXPECT_THROW(jobs::EvalResultsFile("/proc/no/such/dir/results.json", {}), Error);
}

TEST(EvalResultsFile, SeveralPrecisionsGetOneFileEach) {
  EXPECT_EQ(jobs::results_path_for("out/results.json", "int4", false), "out/results.json");
  EXPECT_EQ(jobs::results_path_for("out/results.json", "int4", true), "out/results.int4.json");
  EXPECT_EQ(jobs::results_path_for("out/results.json", "mnm:pyramid@3.50", true), "out/results.mnm_pyramid_3.50.json");
  EXPECT_EQ(jobs::results_path_for("out/results", "plan:2,4,8", true), "out/results.plan_2_4_8");
}

// "bf16" is bfloat16 on every device (it was float32 on the CPU, labelled bf16); "fp32" is float32.
TEST(EvalJob, Bf16RunsInBfloat16AndFp32InFloat32) {
  const std::string model = std::string(MATQUANT_FIXTURES_DIR) + "/lm_eval/models/llama";
  const nlohmann::json spec = {{"model", model},
                               {"data", {{"validation", "synthetic"}}},
                               {"train", {{"seq_len", 32}}},
                               {"eval", {{"perplexity", true}, {"perplexity_samples", 8}}}};
  jobs::JobContext context;
  context.device = matquant::testing::test_device().str();
  std::vector<jobs::MetricRow> streamed;
  context.on_metrics = [&](const std::vector<jobs::MetricRow>& rows) {
    streamed.insert(streamed.end(), rows.begin(), rows.end());
  };
  const auto log_pplx = [](const jobs::JobOutcome& outcome, const std::string& label) {
    for (const auto& m : outcome.metrics) {
      if (m.metric == "log_pplx") {
        EXPECT_EQ(m.precision, label);
        return m.value;
      }
    }
    ADD_FAILURE() << "no log_pplx";
    return 0.0;
  };
  const auto bf16 = jobs::run_eval_job(spec, "", "bf16", context);
  EXPECT_EQ(streamed.size(), bf16.metrics.size());  // every row was handed on as it was measured
  const auto fp32 = jobs::run_eval_job(spec, "", "fp32", context);
  const double b = log_pplx(bf16, "bf16"), f = log_pplx(fp32, "fp32");
  EXPECT_TRUE(std::isfinite(b) && std::isfinite(f));
  EXPECT_NE(b, f) << "bf16 rounding must show in the loss";
  EXPECT_NEAR(b, f, 0.05 * f);
}

}  // namespace
