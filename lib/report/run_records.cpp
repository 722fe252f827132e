#include "report/run_records.h"

#include "store/database.h"

#include <unordered_map>

namespace matquant::report {

std::vector<RunRecord> load_run_records(const store::Database& db) {
  std::vector<RunRecord> runs;
  std::unordered_map<std::string, size_t> index;
  store::Statement select_runs = db.prepare("SELECT run_key, coalesce(name, ''), status FROM runs ORDER BY run_key");
  while (select_runs.step()) {
    index[select_runs.column_text(0)] = runs.size();
    runs.push_back({select_runs.column_text(0), select_runs.column_text(1), select_runs.column_text(2), {}, {}, {}});
  }
  store::Statement params = db.prepare("SELECT run_key, key, value FROM params");
  while (params.step()) {
    const auto it = index.find(params.column_text(0));
    if (it != index.end()) runs[it->second].params[params.column_text(1)] = params.column_optional_text(2);
  }
  // Metrics reach a run through run_jobs: a job shared by several runs counts for each.
  store::Statement metrics = db.prepare(
      "SELECT rj.run_key, m.precision, m.task, m.metric, m.value, m.job_key FROM run_jobs rj "
      "JOIN metrics m ON m.job_key = rj.job_key");
  while (metrics.step()) {
    const auto it = index.find(metrics.column_text(0));
    if (it == index.end()) continue;
    RunMetric metric{metrics.column_text(1), metrics.column_text(2), metrics.column_text(3), std::nullopt,
                     metrics.column_text(5)};
    if (!metrics.column_is_null(4)) metric.value = metrics.column_double(4);
    runs[it->second].metrics.push_back(std::move(metric));
  }
  store::Statement jobs = db.prepare(
      "SELECT rj.run_key, j.kind, coalesce(j.precision, ''), j.status FROM run_jobs rj "
      "JOIN jobs j ON j.job_key = rj.job_key");
  while (jobs.step()) {
    const auto it = index.find(jobs.column_text(0));
    if (it != index.end()) runs[it->second].jobs.push_back({jobs.column_text(1), jobs.column_text(2), jobs.column_text(3)});
  }
  return runs;
}

}  // namespace matquant::report
