#include "store/ingest.h"

#include "store/database.h"
#include "store/result_file.h"
#include "store/run_log.h"
#include "store/spec_params.h"

#include <vector>

namespace matquant::store {
namespace {

std::optional<std::string> non_empty(const std::string& text) {
  return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

// True when the job row already holds exactly this result (same canonical JSON) and the status
// it gives. A retried job can fail with a file identical to its previous attempt's while the row
// says `running`: that file must still be recorded.
bool already_ingested(const Database& db, const ResultFile& result) {
  Statement find = db.prepare("SELECT result_json, status FROM jobs WHERE job_key = ?");
  find.bind(1, result.job_key);
  return find.step() && find.column_optional_text(0) == result.canonical_json && find.column_text(1) == result.status;
}

void upsert_run(Database& db, const ResultFile& result, const std::string& sweep_name) {
  const std::string name = result.spec.is_object() && result.spec.contains("name") && result.spec["name"].is_string()
                               ? result.spec["name"].get<std::string>()
                               : "";
  // created_at comes from the file when it can, so re-ingesting is deterministic.
  const std::string created = result.started_at.value_or(result.finished_at.value_or(utc_now()));
  db.prepare("INSERT INTO runs (run_key, name, sweep, spec_json, status, created_at, host, device, git_sha, "
             "binary_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
             "ON CONFLICT (run_key) DO UPDATE SET name = coalesce(runs.name, excluded.name), "
             "sweep = coalesce(runs.sweep, excluded.sweep), host = coalesce(excluded.host, runs.host), "
             "device = coalesce(excluded.device, runs.device), git_sha = coalesce(excluded.git_sha, runs.git_sha), "
             "binary_version = coalesce(excluded.binary_version, runs.binary_version)")
      .bind(1, result.run_key)
      .bind(2, non_empty(name))
      .bind(3, non_empty(sweep_name))
      .bind(4, result.spec.dump())
      .bind(5, result.status)
      .bind(6, created)
      .bind(7, result.host)
      .bind(8, result.device)
      .bind(9, result.git_sha)
      .bind(10, result.matquant_version)
      .run();
  // Params are only written with the run's first spec: a shared job's file may carry the spec of
  // another run with the same training key.
  Statement has_params = db.prepare("SELECT 1 FROM params WHERE run_key = ? LIMIT 1");
  has_params.bind(1, result.run_key);
  if (!has_params.step()) {
    Statement insert = db.prepare("INSERT INTO params (run_key, key, value) VALUES (?, ?, ?)");
    for (const auto& [key, value] : flatten_spec(result.spec)) insert.bind(1, result.run_key).bind(2, key).bind(3, value).run();
  }
}

void upsert_job(Database& db, const ResultFile& result) {
  db.prepare("INSERT INTO jobs (job_key, run_key, kind, precision, status, attempts, seconds, error, result_json, "
             "finished_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?) "
             "ON CONFLICT (job_key) DO UPDATE SET kind = excluded.kind, "
             "precision = coalesce(excluded.precision, jobs.precision), status = excluded.status, "
             "attempts = max(jobs.attempts, 1), seconds = excluded.seconds, error = excluded.error, "
             "result_json = excluded.result_json, finished_at = excluded.finished_at")
      .bind(1, result.job_key)
      .bind(2, result.run_key)
      .bind(3, result.job)
      .bind(4, result.precision)
      .bind(5, result.status)
      .bind(6, result.seconds)
      .bind(7, result.error)
      .bind(8, result.canonical_json)
      .bind(9, result.finished_at)
      .run();
  db.prepare("INSERT OR IGNORE INTO run_jobs (run_key, job_key) VALUES (?, ?)")
      .bind(1, result.run_key)
      .bind(2, result.job_key)
      .run();
}

void replace_metrics_and_artifacts(Database& db, const ResultFile& result) {
  db.prepare("DELETE FROM metrics WHERE job_key = ?").bind(1, result.job_key).run();
  Statement metric = db.prepare(
      "INSERT INTO metrics (job_key, run_key, precision, task, metric, value) VALUES (?, ?, ?, ?, ?, ?)");
  for (const MetricRow& row : result.metrics) {
    metric.bind(1, result.job_key)
        .bind(2, result.run_key)
        .bind(3, row.precision)
        .bind(4, row.task)
        .bind(5, row.metric)
        .bind(6, row.value)
        .run();
  }
  db.prepare("DELETE FROM artifacts WHERE job_key = ?").bind(1, result.job_key).run();
  Statement artifact = db.prepare("INSERT INTO artifacts (job_key, kind, path) VALUES (?, ?, ?)");
  for (const ArtifactRow& row : result.artifacts) artifact.bind(1, result.job_key).bind(2, row.kind).bind(3, row.path).run();
}

}  // namespace

IngestResult ingest_result_file(Database& db, const std::string& result_json_path, const std::string& sweep_name) {
  const ResultFile result = read_result_file(result_json_path);  // throws before any write
  IngestResult outcome{result.run_key, result.job_key, result.status, result.metrics.size(), false};
  db.write_transaction([&] {
    if (already_ingested(db, result)) return;
    if (!sweep_name.empty()) {
      db.prepare("INSERT INTO sweeps (name, file, created_at) VALUES (?, NULL, ?) ON CONFLICT (name) DO NOTHING")
          .bind(1, sweep_name)
          .bind(2, utc_now())
          .run();
    }
    upsert_run(db, result, sweep_name);
    upsert_job(db, result);
    replace_metrics_and_artifacts(db, result);
    // Every run sharing this job (equal keys are done once) sees the new status.
    Statement linked = db.prepare("SELECT run_key FROM run_jobs WHERE job_key = ?");
    linked.bind(1, result.job_key);
    std::vector<std::string> run_keys;
    while (linked.step()) run_keys.push_back(linked.column_text(0));
    for (const auto& run_key : run_keys) update_run_status(db, run_key);
    record_event(db, "ingest",
                 result.job + " job " + result.status + ", " + std::to_string(result.metrics.size()) +
                     " metrics from " + result_json_path,
                 result.run_key, result.job_key);
    outcome.changed = true;
  });
  return outcome;
}

}  // namespace matquant::store
