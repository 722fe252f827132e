#include "eval/zero_shot.h"

#include "common/error.h"
#include "eval/multiple_choice_metrics.h"
#include "eval/rolling_perplexity.h"
#include "eval/task_registry.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>

namespace matquant::eval {

std::vector<TaskMetric> evaluate_zero_shot(model::DecoderModel& model, const model::Tokenizer& tokenizer,
                                           const ZeroShotOptions& options) {
  std::vector<LoadedTask> tasks;
  for (const auto& name : options.tasks) tasks.push_back(load_task(name, options.task_dir, options.limit));
  const RequestBuilder builder(tokenizer);
  std::ofstream saved;
  if (!options.save_requests_path.empty()) {
    saved.open(options.save_requests_path);
    if (!saved) throw Error(ErrorCode::kIo, options.save_requests_path + ": cannot be written");
  }
  std::vector<TaskMetric> metrics;
  for (const auto& task : tasks) {
    if (task.rolling) {  // perplexity task (wikitext)
      for (auto& m : evaluate_rolling_task(model, builder, task, options, saved.is_open() ? &saved : nullptr)) {
        metrics.push_back(std::move(m));
      }
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<TokenizedRequest> requests;
    for (const auto& doc : task.documents) {
      for (const auto& [context, continuation] : doc.requests) requests.push_back(builder.build(context, continuation));
    }
    const auto results = score_requests(model, requests, options.engine);
    std::vector<double> acc, acc_norm;
    size_t next = 0;
    for (size_t d = 0; d < task.documents.size(); ++d) {
      const auto& doc = task.documents[d];
      std::vector<double> lls;
      for (size_t c = 0; c < doc.requests.size(); ++c) lls.push_back(results[next + c].loglikelihood);
      const DocumentScore score = score_document(doc, lls);
      acc.push_back(score.acc);
      acc_norm.push_back(score.acc_norm);
      if (saved.is_open()) {
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
      }
      next += doc.requests.size();
    }
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
  }
  return metrics;
}

}  // namespace matquant::eval
