#include "eval/zero_shot.h"

#include "common/error.h"
#include "common/error_context.h"
#include "common/failure.h"
#include "eval/multiple_choice_metrics.h"
#include "eval/rolling_perplexity.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>

namespace matquant::eval {

namespace {

// lm-eval's HF backend asserts a non-empty continuation no longer than max_length (longer
// context + continuation is left-truncated, which we do too). Such a document cannot be scored the
// harness' way, so the task fails naming every one of them rather than one assert for the run.
std::string unscorable_documents(const LoadedTask& task, const std::vector<TokenizedRequest>& requests,
                                 int64_t max_length) {
  std::vector<std::string> too_long, empty;
  size_t next = 0;
  for (size_t d = 0; d < task.documents.size(); ++d) {
    const auto& doc = task.documents[d];
    for (size_t c = 0; c < doc.requests.size(); ++c) {
      const auto& r = requests[next + c];
      const auto where = fmt::format("document {} (line {}) choice {}", d, doc.line, c);
      if (r.continuation.empty()) empty.push_back(where);
      if (int64_t(r.continuation.size()) > max_length) too_long.push_back(fmt::format("{} ({} tokens)", where, r.continuation.size()));
    }
    next += doc.requests.size();
  }
  const auto listed = [](const std::vector<std::string>& items) {
    std::string text;
    for (size_t i = 0; i < items.size() && i < 3; ++i) text += (i ? ", " : "") + items[i];
    return items.size() > 3 ? text + fmt::format(" and {} more", items.size() - 3) : text;
  };
  std::string message;
  if (!too_long.empty()) {
    message = fmt::format("{}: {} continuation(s) longer than the model's context of {} tokens (eval.max_length / "
                          "--max-length; lm-eval refuses them too): {}",
                          task.path, too_long.size(), max_length, listed(too_long));
  }
  if (!empty.empty()) {
    message += fmt::format("{}{}: {} continuation(s) encode to no tokens: {}", message.empty() ? "" : "; ", task.path,
                           empty.size(), listed(empty));
  }
  return message;
}

void save_requests(std::ostream& saved, const LoadedTask& task, const std::vector<TokenizedRequest>& requests,
                   const std::vector<LoglikelihoodResult>& results) {
  size_t next = 0;
  for (size_t d = 0; d < task.documents.size(); ++d) {
    const auto& doc = task.documents[d];
    for (size_t c = 0; c < doc.requests.size(); ++c) {
      const auto& r = requests[next + c];
      saved << nlohmann::json{{"task", task.name}, {"doc", d}, {"line", doc.line}, {"choice", c},
                              {"gold", doc.gold}, {"context", doc.requests[c].first},
                              {"continuation", doc.requests[c].second}, {"context_tokens", r.context},
                              {"continuation_tokens", r.continuation},
                              {"loglikelihood", results[next + c].loglikelihood},
                              {"is_greedy", results[next + c].is_greedy}}
                   .dump()
            << "\n";
    }
    next += doc.requests.size();
  }
}

// acc / acc_norm of one multiple-choice task; throws Error for documents it cannot score.
std::vector<TaskMetric> evaluate_multiple_choice_task(model::DecoderModel& model, const RequestBuilder& builder,
                                                      const LoadedTask& task, const ZeroShotOptions& options,
                                                      std::ostream* saved) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<TokenizedRequest> requests;
  for (const auto& doc : task.documents) {
    for (const auto& [context, continuation] : doc.requests) requests.push_back(builder.build(context, continuation));
  }
  const std::string problem =
      unscorable_documents(task, requests, resolve_max_length(model->config(), options.engine.max_length));
  if (!problem.empty()) throw Error(ErrorCode::kInvalidInput, problem);
  const auto results = score_requests(model, requests, options.engine);
  std::vector<double> acc, acc_norm;
  size_t next = 0;
  for (const auto& doc : task.documents) {
    std::vector<double> lls;
    for (size_t c = 0; c < doc.requests.size(); ++c) lls.push_back(results[next + c].loglikelihood);
    const DocumentScore score = score_document(doc, lls);
    acc.push_back(score.acc);
    acc_norm.push_back(score.acc_norm);
    next += doc.requests.size();
  }
  if (saved != nullptr) save_requests(*saved, task, requests, results);
  std::vector<TaskMetric> metrics;
  const MeanWithError a = mean_with_error(acc);
  metrics.push_back({task.name, "acc", a.mean});
  metrics.push_back({task.name, "acc_stderr", a.stderr_of_mean});
  // The report shows accuracies over a handful of documents (fixture task files) as n/a.
  metrics.push_back({task.name, "documents", double(task.documents.size())});
  if (task.has_acc_norm) {
    const MeanWithError n = mean_with_error(acc_norm);
    metrics.push_back({task.name, "acc_norm", n.mean});
    metrics.push_back({task.name, "acc_norm_stderr", n.stderr_of_mean});
  }
  if (options.log) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    options.log(fmt::format("{} ({} docs, {} requests, {:.1f} s): acc {:.4f}{}", task.name, task.documents.size(),
                            requests.size(), seconds, a.mean,
                            task.has_acc_norm ? fmt::format(" acc_norm {:.4f}", mean_with_error(acc_norm).mean) : ""));
  }
  return metrics;
}

}  // namespace

ZeroShotResult evaluate_zero_shot(model::DecoderModel& model, const model::Tokenizer& tokenizer,
                                  const ZeroShotOptions& options) {
  std::vector<LoadedTask> tasks;
  for (const auto& name : options.tasks) {
    tasks.push_back(load_task(name, options.task_dir, options.limit, options.task_files));
  }
  const RequestBuilder builder(tokenizer);
  std::ofstream saved;
  if (!options.save_requests_path.empty()) {
    saved.open(options.save_requests_path);
    if (!saved) throw Error(ErrorCode::kIo, options.save_requests_path + ": cannot be written");
  }
  ZeroShotResult result;
  for (const auto& task : tasks) {
    std::vector<TaskMetric> metrics;
    try {
      const ErrorContext scope("task " + task.name);
      std::ostream* sink = saved.is_open() ? &saved : nullptr;
      metrics = task.rolling ? evaluate_rolling_task(model, builder, task, options, sink)
                             : evaluate_multiple_choice_task(model, builder, task, options, sink);
    } catch (...) {
      const Failure failure = describe_failure(std::current_exception());
      if (failure.code == ErrorCode::kOutOfMemory) throw Error(failure.code, failure.message);
      result.failures.push_back({task.name, failure.code, failure.message});
      if (options.log) options.log(task.name + ": FAILED: " + failure.message);
      continue;
    }
    // A full disk or a file size limit must not leave a silently cut request file.
    if (saved.is_open() && !saved.flush()) {
      throw Error(ErrorCode::kIo, options.save_requests_path + ": writing failed after task " + task.name +
                                      " (disk full or a file size limit?)");
    }
    if (options.on_task_done) options.on_task_done(task, metrics);
    result.metrics.insert(result.metrics.end(), metrics.begin(), metrics.end());
  }
  return result;
}

}  // namespace matquant::eval
