#pragma once
// The worker side of the sweep protocol (DESIGN.md): `matquant worker JOB_DIR` reads
// JOB_DIR/job.json, runs one training or evaluation job, and writes JOB_DIR/result.json by atomic
// rename. It never opens the database, so the same protocol works for workers on other machines.
//
// job.json: {"job": "train"|"eval", "run_key": "...", "job_key": "...", "spec": {...},
//            "checkpoint": "path of the nested checkpoint", "precision": "4" (eval only),
//            "state_dir": "resumable training state" (train only), "cache_dir": "...",
//            "device": "cpu"|"cuda"}
#include <nlohmann/json.hpp>

#include <string>

namespace matquant::jobs {

inline constexpr int kResultFormatVersion = 1;

// Returns the process exit code: 0 when a result file with status done or diverged was written.
// Failures inside the job are also written as a result (status failed, error message) and return 1.
int run_worker(const std::string& job_dir);

// Writes `result` to DIR/result.json via a temp file, fsync and rename.
void write_result_atomically(const std::string& job_dir, const nlohmann::json& result);

}  // namespace matquant::jobs
