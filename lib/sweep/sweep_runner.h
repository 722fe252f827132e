#pragma once
// The local scheduler: records a sweep's runs and jobs, runs every job that is not done as its own
// worker process (one per GPU, or K on the CPU), and ingests each result file as the single
// writer of the database. Killed and restarted, it ingests what finished meanwhile, waits for
// workers still running, and redoes nothing that is done. SIGINT/SIGTERM stop the workers, record
// their jobs as `interrupted` and end the run with Error kInterrupted (exit 130); the next launch
// runs those jobs again.
// With executor "slurm" every job is a Slurm batch job instead (sweep/slurm_client.h): the runner
// submits what is ready (an evaluation as soon as its training is submitted, waiting on it), polls
// squeue, and ingests result files from the shared work directory as the database's only writer.
// It may exit at any time (SIGINT leaves the jobs queued) and adopts them when run again.
#include "sweep/expand.h"
#include "sweep/slurm_client.h"

#include <functional>
#include <string>
#include <vector>

namespace matquant::sweep {

struct RunnerOptions {
  std::string db_path = "results/matquant.sqlite";
  std::string work_dir = "results/work";  // job directories: WORK/jobs/JOB_KEY/
  std::string cache_dir = "results/cache";
  std::vector<std::string> gpus;  // CUDA device ids; empty = CPU workers
  int max_parallel = 0;           // workers at once; 0 = one per GPU, or 1 on the CPU
  int max_attempts = 2;           // tries per job before it stays failed
  bool retry_failed = false;      // give failed jobs fresh attempts first (`sweep retry`)
  std::string worker_binary;      // the matquant executable
  double poll_seconds = 0.2;
  double stop_grace_seconds = 10.0;  // after SIGINT/SIGTERM: how long workers get to exit before SIGKILL
  std::function<void(const std::string&)> log;
  std::string executor = "local";  // local | slurm
  SlurmOptions slurm;
  double slurm_poll_seconds = 2.0;  // between squeue calls
};

struct RunnerSummary {
  size_t runs = 0;
  size_t jobs = 0;
  size_t already_done = 0;  // skipped: done before this launch (this or another sweep)
  size_t done = 0;          // finished in this launch
  size_t diverged = 0;
  size_t failed = 0;        // failed after every attempt (or blocked by a failed training job)
  double seconds = 0.0;
};

RunnerSummary run_sweep(const SweepPlan& plan, const RunnerOptions& options);

// `sweep cancel`: scancel every job of the plan queued or running in Slurm and record it as
// interrupted (the next `sweep run` submits it again). Refused while a runner holds the work
// directory (it would retry what was cancelled): stop it first; its jobs stay queued. Returns how
// many were cancelled.
size_t cancel_sweep_jobs(const SweepPlan& plan, const RunnerOptions& options);

}  // namespace matquant::sweep
