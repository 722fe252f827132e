#include "store/run_log.h"

#include "common/error.h"
#include "store/database.h"
#include "store/spec_params.h"

#include <algorithm>
#include <set>

namespace matquant::store {
namespace {

const std::set<std::string>& job_statuses() {
  static const std::set<std::string> all = {kStatusPlanned, kStatusQueued,   kStatusRunning,    kStatusDone,
                                            kStatusFailed,  kStatusDiverged, kStatusInterrupted};
  return all;
}

bool is_terminal(const std::string& status) {
  return status == kStatusDone || status == kStatusFailed || status == kStatusDiverged;
}

void ensure_sweep(Database& db, const std::string& name) {
  if (name.empty()) return;
  db.prepare("INSERT INTO sweeps (name, file, created_at) VALUES (?, NULL, ?) ON CONFLICT (name) DO NOTHING")
      .bind(1, name)
      .bind(2, utc_now())
      .run();
}

void replace_params(Database& db, const std::string& run_key, const nlohmann::json& spec) {
  db.prepare("DELETE FROM params WHERE run_key = ?").bind(1, run_key).run();
  Statement insert = db.prepare("INSERT INTO params (run_key, key, value) VALUES (?, ?, ?)");
  for (const auto& [key, value] : flatten_spec(spec)) {
    insert.bind(1, run_key).bind(2, key).bind(3, value).run();
  }
}

}  // namespace

void record_sweep(Database& db, const std::string& name, const std::string& file) {
  if (name.empty()) throw_invalid("a sweep needs a name");
  db.write_transaction([&] {
    db.prepare("INSERT INTO sweeps (name, file, created_at) VALUES (?, ?, ?) "
               "ON CONFLICT (name) DO UPDATE SET file = excluded.file")
        .bind(1, name)
        .bind(2, file)
        .bind(3, utc_now())
        .run();
  });
}

void record_run_planned(Database& db, const PlannedRun& run) {
  if (run.run_key.empty()) throw_invalid("record_run_planned: empty run key");
  if (!run.spec.is_object()) throw_invalid("record_run_planned: run " + run.run_key + ": spec must be a JSON object");
  for (const PlannedJob& job : run.jobs) {
    if (job.kind != "train" && job.kind != "eval") {
      throw_invalid("record_run_planned: job " + job.job_key + ": kind must be 'train' or 'eval', got '" + job.kind + "'");
    }
  }
  db.write_transaction([&] {
    ensure_sweep(db, run.sweep);
    db.prepare("INSERT INTO runs (run_key, name, sweep, spec_json, status, created_at) VALUES (?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (run_key) DO UPDATE SET name = excluded.name, "
               "sweep = coalesce(excluded.sweep, runs.sweep), spec_json = excluded.spec_json")
        .bind(1, run.run_key)
        .bind(2, run.name)
        .bind(3, run.sweep.empty() ? std::nullopt : std::optional<std::string>(run.sweep))
        .bind(4, run.spec.dump())
        .bind(5, kStatusPlanned)
        .bind(6, utc_now())
        .run();
    replace_params(db, run.run_key, run.spec);
    Statement insert_job = db.prepare(
        "INSERT INTO jobs (job_key, run_key, kind, precision, status) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (job_key) DO NOTHING");
    Statement link = db.prepare("INSERT OR IGNORE INTO run_jobs (run_key, job_key) VALUES (?, ?)");
    for (const PlannedJob& job : run.jobs) {
      insert_job.bind(1, job.job_key)
          .bind(2, run.run_key)
          .bind(3, job.kind)
          .bind(4, job.precision.empty() ? std::nullopt : std::optional<std::string>(job.precision))
          .bind(5, kStatusPlanned)
          .run();
      link.bind(1, run.run_key).bind(2, job.job_key).run();
    }
    update_run_status(db, run.run_key);
    record_event(db, "planned", run.name + ": " + std::to_string(run.jobs.size()) + " jobs", run.run_key);
  });
}

void record_job_status(Database& db, const std::string& job_key, const std::string& status,
                       const std::string& error, std::optional<double> seconds) {
  if (job_statuses().count(status) == 0) throw_invalid("unknown job status '" + status + "'");
  db.write_transaction([&] {
    Statement find = db.prepare("SELECT kind, attempts FROM jobs WHERE job_key = ?");
    find.bind(1, job_key);
    if (!find.step()) throw Error(ErrorCode::kNotFound, "unknown job " + job_key + " (plan its run first)");
    const std::string kind = find.column_text(0);
    const int64_t attempts = std::max<int64_t>(
        0, find.column_int(1) + (status == kStatusRunning ? 1 : 0) - (status == kStatusInterrupted ? 1 : 0));
    db.prepare("UPDATE jobs SET status = ?, attempts = ?, error = ?, seconds = coalesce(?, seconds), "
               "finished_at = ? WHERE job_key = ?")
        .bind(1, status)
        .bind(2, attempts)
        .bind(3, error.empty() ? std::nullopt : std::optional<std::string>(error))
        .bind(4, seconds)
        .bind(5, is_terminal(status) ? std::optional<std::string>(utc_now()) : std::nullopt)
        .bind(6, job_key)
        .run();
    Statement runs = db.prepare("SELECT run_key FROM run_jobs WHERE job_key = ?");
    runs.bind(1, job_key);
    std::vector<std::string> run_keys;
    while (runs.step()) run_keys.push_back(runs.column_text(0));
    for (const auto& run_key : run_keys) update_run_status(db, run_key);
    std::string message = kind + " job -> " + status;
    if (status == kStatusRunning) message += " (attempt " + std::to_string(attempts) + ")";
    if (!error.empty()) message += ": " + error;
    record_event(db, "job_status", message, run_keys.empty() ? "" : run_keys.front(), job_key);
  });
}

bool job_done(const Database& db, const std::string& job_key) {
  Statement find = db.prepare("SELECT status FROM jobs WHERE job_key = ?");
  find.bind(1, job_key);
  if (!find.step()) return false;
  const std::string status = find.column_text(0);
  return status == kStatusDone || status == kStatusDiverged;
}

void record_event(Database& db, const std::string& kind, const std::string& message,
                  const std::string& run_key, const std::string& job_key) {
  const auto optional = [](const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); };
  db.prepare("INSERT INTO events (time, run_key, job_key, kind, message) VALUES (?, ?, ?, ?, ?)")
      .bind(1, utc_now())
      .bind(2, optional(run_key))
      .bind(3, optional(job_key))
      .bind(4, kind)
      .bind(5, message)
      .run();
}

void update_run_status(Database& db, const std::string& run_key) {
  Statement jobs = db.prepare(
      "SELECT j.status, j.finished_at FROM run_jobs rj JOIN jobs j ON j.job_key = rj.job_key "
      "WHERE rj.run_key = ?");
  jobs.bind(1, run_key);
  std::set<std::string> statuses;
  std::optional<std::string> last_finished;
  while (jobs.step()) {
    statuses.insert(jobs.column_text(0));
    const auto finished = jobs.column_optional_text(1);
    if (finished && (!last_finished || *finished > *last_finished)) last_finished = finished;
  }
  if (statuses.empty()) return;
  std::string status = kStatusDone;
  for (const char* candidate : {kStatusRunning, kStatusInterrupted, kStatusFailed, kStatusDiverged, kStatusQueued, kStatusPlanned}) {
    if (statuses.count(candidate) != 0) {
      status = candidate;
      break;
    }
  }
  db.prepare("UPDATE runs SET status = ?, finished_at = ? WHERE run_key = ?")
      .bind(1, status)
      .bind(2, is_terminal(status) ? last_finished : std::nullopt)
      .bind(3, run_key)
      .run();
}

}  // namespace matquant::store
