#pragma once
// Every run of the results database with its params, metrics and job statuses, loaded once so a
// report can select cells in memory (a few thousand runs at most).
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace matquant::store {
class Database;
}

namespace matquant::report {

struct RunMetric {
  std::string precision;
  std::string task;
  std::string metric;
  std::optional<double> value;  // NULL: not finite (diverged)
  std::string job_key;          // the job that measured it (a shared bf16 evaluation has one key)
};

struct RunJob {
  std::string kind;  // train | eval
  std::string precision;
  std::string status;
};

struct RunRecord {
  std::string run_key;
  std::string name;
  std::string status;
  std::map<std::string, std::optional<std::string>> params;
  std::vector<RunMetric> metrics;
  std::vector<RunJob> jobs;
};

std::vector<RunRecord> load_run_records(const store::Database& db);

}  // namespace matquant::report
