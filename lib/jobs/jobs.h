#pragma once
// The two kinds of job a run is made of (docs/contracts.md): training a nested checkpoint and
// evaluating one precision of it. Each takes the run spec (JSON, contracts.md fields, defaults
// already applied) and returns metric rows; the worker wraps them into result.json.
#include "common/error.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace matquant::distributed {
class Communicator;
}

namespace matquant::jobs {

struct MetricRow {
  std::string precision;
  std::string task;
  std::string metric;
  double value = 0.0;
};

struct JobOutcome {
  std::string status = "done";  // done | diverged | failed (an eval job some of whose tasks failed)
  std::string error;             // failed: what failed, task by task
  ErrorCode error_code = ErrorCode::kInvalidInput;  // failed: the first failure's code
  std::vector<MetricRow> metrics;
  nlohmann::json timings = nlohmann::json::object();
  std::string checkpoint;  // training jobs: the nested checkpoint written
};

struct JobContext {
  std::string cache_dir = "results/cache";  // built-in models
  std::string device = "cpu";
  std::function<void(const std::string&)> log;  // progress lines
  // Eval jobs: each group of metrics as soon as it is measured (perplexity, weights, each task).
  std::function<void(const std::vector<MetricRow>&)> on_metrics;
  // Training jobs run by several processes (`matquant train --nproc`, srun): this rank's link to the
  // others. QAT is then sharded across them (lib/train/sharded_qat_trainer.h); only rank 0 writes
  // the checkpoint. Null: one process.
  std::shared_ptr<distributed::Communicator> communicator;
};

// Trains per spec["base"] / spec["variant"] and writes the nested checkpoint to `checkpoint_path`.
// A resumable state lives in `state_dir` (empty = none).
JobOutcome run_train_job(const nlohmann::json& spec, const std::string& checkpoint_path,
                         const std::string& state_dir, const JobContext& context);

// Evaluates `precision` ("4", "2,4,8,8", "pyramid@3.5") of the checkpoint, or the base model itself
// for "bf16" (bfloat16 weights and activations, on every device) and "fp32" (float32), on held-out
// log-perplexity (eval.perplexity) and the zero-shot tasks (eval.tasks). Tasks that fail leave the
// others' metrics in the outcome, with status "failed" and the failures in `error`.
JobOutcome run_eval_job(const nlohmann::json& spec, const std::string& checkpoint_path,
                        const std::string& precision, const JobContext& context);

// "int4", "ep-int2", "mnm:pyramid@3.50", "plan:2,4,8,8", "bf16".
std::string precision_label(const std::string& precision, bool extra_precision);

}  // namespace matquant::jobs
