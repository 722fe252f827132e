#pragma once
// A sweep's work as jobs (docs/contracts.md "Jobs"): one training job per distinct training key
// and one evaluation job per (training key, precision, evaluation settings). Runs that share a
// key share the job, within a sweep and across sweeps.
#include "sweep/expand.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace matquant::sweep {

struct JobNode {
  std::string key;
  std::string kind;        // "train" | "eval"
  std::string precision;   // eval: as written in eval.precisions ("4", "bf16", "pyramid@3.5")
  std::string label;       // eval: the stored precision label ("int4", "ep-int2", "bf16")
  std::string depends_on;  // eval: its training job's key ("" for bf16, which needs no training)
  nlohmann::json spec;     // the spec of the first run that needs it
  std::string owner_run;   // that run's key (result files carry it)
  std::vector<std::string> runs;  // every run that uses the job
};

struct JobGraph {
  // Training jobs first, ordered by model and training data so one model's jobs run together,
  // then evaluation jobs in the same order as their training jobs.
  std::vector<JobNode> jobs;
  std::map<std::string, size_t> index;  // key -> position
  // Run key -> the keys of its jobs (training first).
  std::map<std::string, std::vector<std::string>> jobs_of_run;
};

JobGraph build_job_graph(const std::vector<PlannedSpec>& runs);

// WORK/jobs/KEY, absolute: job.json, result.json, worker.log (and slurm.job) live there.
std::string job_directory(const std::string& work_dir, const std::string& key);

// The evaluation jobs that `include` accepts, grouped by the training they wait on ("" = none),
// groups in order of first appearance, jobs in graph order: what one Slurm job array runs.
std::vector<std::vector<size_t>> evaluations_by_training(const JobGraph& graph,
                                                         const std::function<bool(size_t)>& include);

}  // namespace matquant::sweep
