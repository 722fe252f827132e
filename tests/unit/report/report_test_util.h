#pragma once
// Builds small results databases for report tests through the store API (result files ingested
// as a worker would leave them).
#include "store/database.h"
#include "store/ingest.h"
#include "temp_dir.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace matquant::report::testing {

using matquant::testing::TempDir;
using matquant::testing::write_text;

// Metric name -> value for one precision, e.g. {"arc_easy/acc", 0.6}, {"validation/log_pplx", 2.65}.
using Metrics = std::map<std::string, double>;

class DatabaseBuilder {
 public:
  explicit DatabaseBuilder(const TempDir& dir) : dir_(dir), db_(store::Database::open(dir.file("results.sqlite"))) {}

  // One finished eval job of run `run_key` at `precision` (job key `run_key/precision` unless given).
  void eval(const std::string& run_key, const nlohmann::json& spec, const std::string& precision, const Metrics& metrics,
            const std::string& job_key = "") {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& [name, value] : metrics) {
      const auto slash = name.find('/');
      rows.push_back({{"precision", precision}, {"task", name.substr(0, slash)}, {"metric", name.substr(slash + 1)},
                      {"value", value}});
    }
    ingest({{"format_version", 1}, {"run_key", run_key}, {"job_key", job_key.empty() ? run_key + "/" + precision : job_key}, {"job", "eval"},
            {"status", "done"}, {"spec", spec}, {"precision", precision}, {"metrics", rows}});
  }

  // A training job that diverged: nothing to evaluate.
  void diverged_training(const std::string& run_key, const nlohmann::json& spec) {
    ingest({{"format_version", 1}, {"run_key", run_key}, {"job_key", run_key + "/train"}, {"job", "train"},
            {"status", "diverged"}, {"spec", spec}, {"metrics", nlohmann::json::array()}});
  }

  // Another run sharing a job (the sweep shares bf16 evaluations between the runs of a model).
  void link(const std::string& run_key, const std::string& job_key) {
    db_.prepare("INSERT OR IGNORE INTO run_jobs (run_key, job_key) VALUES (?, ?)").bind(1, run_key).bind(2, job_key).run();
  }

  store::Database& db() { return db_; }

 private:
  void ingest(const nlohmann::json& result) {
    const std::string path = dir_.file("result-" + std::to_string(count_++) + ".json");
    write_text(path, result.dump());
    store::ingest_result_file(db_, path, "test");
  }

  const TempDir& dir_;
  store::Database db_;
  int count_ = 0;
};

}  // namespace matquant::report::testing
