#pragma once
// What the sweep runner records as it plans and schedules work (the single writer's API, next to
// ingest.h). All writes are one BEGIN IMMEDIATE transaction each.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace matquant::store {

class Database;

// Job and run statuses. A run's status is derived from its jobs (see update_run_status).
inline constexpr const char* kStatusPlanned = "planned";
inline constexpr const char* kStatusQueued = "queued";
inline constexpr const char* kStatusRunning = "running";
inline constexpr const char* kStatusDone = "done";
inline constexpr const char* kStatusFailed = "failed";
inline constexpr const char* kStatusDiverged = "diverged";
// Stopped by SIGINT/SIGTERM to the runner: not final, and not a failed attempt; the next
// `sweep run` runs it again.
inline constexpr const char* kStatusInterrupted = "interrupted";

struct PlannedJob {
  std::string job_key;
  std::string kind;       // "train" | "eval"
  std::string precision;  // eval jobs: the precision label of docs/contracts.md (int4, ep-int2, bf16); "" for train
};

struct PlannedRun {
  std::string run_key;
  std::string name;
  std::string sweep;  // sweep name; "" when launched on its own
  nlohmann::json spec;
  std::vector<PlannedJob> jobs;  // every job the run needs, shared ones included
};

// Records a sweep (by name; the file it came from is updated if it changed).
void record_sweep(Database& db, const std::string& name, const std::string& file);

// Inserts or refreshes a run, its params and its jobs. Existing jobs keep their status (a job
// already done stays done, which is how relaunching a grid skips finished work).
void record_run_planned(Database& db, const PlannedRun& run);

// Sets a job's status ("queued", "running", "done", "failed", "diverged", "interrupted");
// "running" counts an attempt and "interrupted" takes it back (a stopped attempt is not a failure). Updates the status of every run that uses the job and records an event.
void record_job_status(Database& db, const std::string& job_key, const std::string& status,
                       const std::string& error = "", std::optional<double> seconds = std::nullopt);

// True when the job has finished (done or diverged: rerunning a diverged job diverges again).
// Failed and unknown jobs are not done.
bool job_done(const Database& db, const std::string& job_key);

// Appends to the events table. Call inside a write transaction or on its own.
void record_event(Database& db, const std::string& kind, const std::string& message,
                  const std::string& run_key = "", const std::string& job_key = "");

// Recomputes runs.status (and finished_at) of a run from its jobs, the first that applies of:
// running, interrupted, failed, diverged, queued, planned, done. Must be called inside a write transaction.
void update_run_status(Database& db, const std::string& run_key);

}  // namespace matquant::store
