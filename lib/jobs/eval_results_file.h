#pragma once
// `matquant eval --output-path FILE`: the evaluation's results as one JSON file shaped like
// lm-evaluation-harness' results file (lm_eval/loggers/evaluation_tracker.py: "results" keyed by
// task with "METRIC,none" entries and an "alias", "n-samples", "config"), so tools that read lm-eval
// output read ours. matquant's own rows go beside them: held-out perplexity under results
// "validation", parameter counts and effective bits under "weights", failed tasks under "failures".
// The file is rewritten (write, fsync, rename) after every task, so a crash or a failing task keeps
// what was finished.
#include "jobs/jobs.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace matquant::jobs {

class EvalResultsFile {
 public:
  // `config` describes the evaluation (model, checkpoint, precision, device, limits).
  EvalResultsFile(std::string path, nlohmann::json config);

  void add(const std::vector<MetricRow>& rows);  // and rewrites the file
  void add_failures(const std::string& failures);  // JobOutcome::error; rewrites the file
  const nlohmann::json& content() const { return content_; }

 private:
  void write() const;

  std::string path_;
  nlohmann::json content_;
};

// Where the results of `label` go when several precisions share one --output-path:
// "out/results.json" -> "out/results.int4.json"; one precision writes `path` itself.
std::string results_path_for(const std::string& path, const std::string& label, bool several_precisions);

}  // namespace matquant::jobs
