#pragma once
// The zero-shot evaluation as a run spec asks for it (eval.tasks): load every task first (a task
// that fails to load fails the evaluation before anything is recorded), build lm-eval's requests,
// score them, and return acc / acc_norm (and their standard errors) per task; perplexity tasks
// (wikitext) return word/byte/token perplexity instead (eval/rolling_perplexity.h).
#include "eval/loglikelihood_engine.h"
#include "model/decoder.h"
#include "model/tokenizer.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace matquant::eval {

struct ZeroShotOptions {
  std::vector<std::string> tasks;
  std::string task_dir;
  int64_t limit = 0;               // first N documents per task; 0 = all
  EngineOptions engine;
  std::string save_requests_path;  // JSONL of every request and its log-likelihood; empty = none
  std::function<void(const std::string&)> log;
};

struct TaskMetric {
  std::string task;
  std::string metric;  // acc, acc_stderr, acc_norm, acc_norm_stderr; perplexity tasks: eval/rolling_perplexity.h
  double value = 0.0;
};

std::vector<TaskMetric> evaluate_zero_shot(model::DecoderModel& model, const model::Tokenizer& tokenizer,
                                           const ZeroShotOptions& options);

}  // namespace matquant::eval
