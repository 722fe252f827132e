#include "store/schema.h"

#include "common/error.h"
#include "store/database.h"

namespace matquant::store {
namespace {

// Migration 1: the tables of docs/results.md. run_jobs links a run to every job it uses, since
// equal job keys are shared between runs (docs/contracts.md "Jobs").
constexpr const char* kMigration1 = R"sql(
CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  file TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE runs (
  run_key TEXT PRIMARY KEY,
  name TEXT,
  sweep TEXT,
  spec_json TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  finished_at TEXT,
  host TEXT,
  device TEXT,
  git_sha TEXT,
  binary_version TEXT
);
CREATE TABLE jobs (
  job_key TEXT PRIMARY KEY,
  run_key TEXT NOT NULL REFERENCES runs(run_key),
  kind TEXT NOT NULL CHECK (kind IN ('train', 'eval')),
  precision TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  seconds REAL,
  error TEXT,
  result_json TEXT,
  finished_at TEXT
);
CREATE TABLE run_jobs (
  run_key TEXT NOT NULL REFERENCES runs(run_key) ON DELETE CASCADE,
  job_key TEXT NOT NULL REFERENCES jobs(job_key) ON DELETE CASCADE,
  PRIMARY KEY (run_key, job_key)
);
CREATE TABLE params (
  run_key TEXT NOT NULL REFERENCES runs(run_key) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY (run_key, key)
);
CREATE TABLE metrics (
  job_key TEXT NOT NULL REFERENCES jobs(job_key) ON DELETE CASCADE,
  run_key TEXT NOT NULL REFERENCES runs(run_key),
  precision TEXT NOT NULL,
  task TEXT NOT NULL,
  metric TEXT NOT NULL,
  value REAL,
  UNIQUE (job_key, precision, task, metric)
);
CREATE TABLE artifacts (
  job_key TEXT NOT NULL REFERENCES jobs(job_key) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  run_key TEXT,
  job_key TEXT,
  kind TEXT NOT NULL,
  message TEXT
);
CREATE INDEX jobs_by_run ON jobs(run_key);
CREATE INDEX run_jobs_by_job ON run_jobs(job_key);
CREATE INDEX params_by_key ON params(key, value);
CREATE INDEX metrics_by_run ON metrics(run_key);
CREATE INDEX metrics_by_name ON metrics(task, metric, precision);
CREATE INDEX artifacts_by_job ON artifacts(job_key);
CREATE INDEX events_by_run ON events(run_key);
)sql";

// Migration 2: the sweep runner's lease on the database (lib/store/runner_lease.h), one row at
// most: two runners with different work directories must not both run every job.
constexpr const char* kMigration2 = R"sql(
CREATE TABLE runner_leases (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  pid_start TEXT,
  host TEXT NOT NULL,
  work_dir TEXT NOT NULL,
  sweep TEXT,
  acquired_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL
);
)sql";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1, "sweeps, runs, jobs, run_jobs, params, metrics, artifacts, events", kMigration1},
      {2, "runner_leases: one sweep runner per database", kMigration2},
  };
  return all;
}

int schema_version(const Database& db) {
  Statement exists = db.prepare(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  exists.step();
  if (exists.column_int(0) == 0) return 0;
  Statement version = db.prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  version.step();
  return int(version.column_int(0));
}

void migrate(Database& db) {
  const int newest = migrations().back().version;
  // Fast path without the write lock: an up-to-date database is the common case, and opening
  // it must not queue behind another process's long write.
  if (schema_version(db) == newest) return;
  db.write_transaction([&] {
    // Checked inside the write lock so two processes opening a new file migrate it once.
    db.execute_script(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)");
    const int current = schema_version(db);
    if (current > newest) {
      throw Error(ErrorCode::kInvalidInput,
                  db.path() + ": schema version " + std::to_string(current) +
                      " is newer than this matquant understands (" + std::to_string(newest) +
                      "); use a newer build");
    }
    for (const Migration& migration : migrations()) {
      if (migration.version <= current) continue;
      db.execute_script(migration.sql);
      db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)")
          .bind(1, migration.version)
          .bind(2, migration.description)
          .bind(3, utc_now())
          .run();
    }
  });
}

}  // namespace matquant::store
