#pragma once
// The zero-shot evaluation as a run spec asks for it (eval.tasks): load every task first (a task
// that fails to load fails the evaluation before anything is scored), build lm-eval's requests,
// score them, and return acc / acc_norm (and their standard errors) per task; perplexity tasks
// (wikitext) return word/byte/token perplexity instead (eval/rolling_perplexity.h).
// Tasks are scored one after another and each one's metrics are handed to on_task_done as soon as
// it finishes. A task that cannot be scored (a continuation longer than the model's context, which
// lm-eval refuses with an assertion; any other input error) becomes a TaskFailure naming the task
// and its documents, and the other tasks still run. Out of memory stops the evaluation (ErrorCode
// kOutOfMemory naming the task): the tasks after it would not fit either.
#include "common/error.h"
#include "eval/loglikelihood_engine.h"
#include "eval/task_registry.h"
#include "model/decoder.h"
#include "model/tokenizer.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace matquant::eval {

struct TaskMetric {
  std::string task;
  std::string metric;  // acc, acc_stderr, acc_norm, acc_norm_stderr; perplexity tasks: eval/rolling_perplexity.h
  double value = 0.0;
};

struct ZeroShotOptions {
  std::vector<std::string> tasks;
  std::string task_dir;
  TaskFiles task_files;            // per-task paths that replace the directory layout
  int64_t limit = 0;               // first N documents per task; 0 = all
  EngineOptions engine;
  std::string save_requests_path;  // JSONL of every request and its log-likelihood; empty = none
  std::function<void(const std::string&)> log;
  // Called once per task scored, with its metrics, before the next task starts.
  std::function<void(const LoadedTask&, const std::vector<TaskMetric>&)> on_task_done;
};

struct TaskFailure {
  std::string task;
  ErrorCode code = ErrorCode::kInvalidInput;
  std::string message;  // names the documents (index and file line) when the problem is theirs
};

struct ZeroShotResult {
  std::vector<TaskMetric> metrics;
  std::vector<TaskFailure> failures;
};

ZeroShotResult evaluate_zero_shot(model::DecoderModel& model, const model::Tokenizer& tokenizer,
                                  const ZeroShotOptions& options);

}  // namespace matquant::eval
