#include "eval/rolling_perplexity.h"

#include "common/error.h"
#include "eval/rolling_windows.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <ostream>

namespace matquant::eval {

std::vector<RollingScore> score_rolling(model::DecoderModel& model, const RequestBuilder& builder,
                                        const std::vector<std::string>& texts, const EngineOptions& options) {
  const int64_t max_length = resolve_max_length(model->config(), options.max_length);
  std::vector<TokenizedRequest> requests;
  std::vector<size_t> owner;  // text of each window
  std::vector<RollingScore> scores(texts.size());
  for (size_t t = 0; t < texts.size(); ++t) {
    for (auto& window : rolling_windows(builder.encode_default(texts[t]), builder.prefix_token_id(), max_length)) {
      scores[t].tokens += int64_t(window.continuation.size());
      scores[t].windows += 1;
      requests.push_back(std::move(window));
      owner.push_back(t);
    }
  }
  EngineOptions engine = options;
  engine.max_length = max_length;
  const auto results = score_requests(model, requests, engine);
  for (size_t i = 0; i < results.size(); ++i) scores[owner[i]].loglikelihood += results[i].loglikelihood;
  return scores;
}

std::vector<TaskMetric> perplexity_metrics(const std::string& task, const PerplexityTotals& totals) {
  if (totals.tokens <= 0 || totals.words <= 0 || totals.bytes <= 0) {
    throw Error(ErrorCode::kInvalidInput, task + ": nothing to score (no tokens, words or bytes)");
  }
  const double nll = -totals.loglikelihood;
  const double log_pplx = nll / double(totals.tokens);
  return {{task, "word_perplexity", std::exp(nll / double(totals.words))},
          {task, "byte_perplexity", std::exp(nll / double(totals.bytes))},
          {task, "bits_per_byte", nll / double(totals.bytes) / std::log(2.0)},
          {task, "token_perplexity", std::exp(log_pplx)},
          {task, "log_pplx", log_pplx}};
}

std::vector<TaskMetric> evaluate_rolling_task(model::DecoderModel& model, const RequestBuilder& builder,
                                              const LoadedTask& task, const ZeroShotOptions& options,
                                              std::ostream* saved) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> texts;
  for (const auto& doc : task.documents) texts.push_back(doc.rolling_target);
  const auto scores = score_rolling(model, builder, texts, options.engine);
  PerplexityTotals totals;
  int64_t windows = 0;
  for (size_t d = 0; d < scores.size(); ++d) {
    const auto& doc = task.documents[d];
    totals.loglikelihood += scores[d].loglikelihood;
    totals.tokens += scores[d].tokens;
    totals.words += doc.words;
    totals.bytes += doc.bytes;
    windows += scores[d].windows;
    if (saved != nullptr) {
      *saved << nlohmann::json{{"task", task.name}, {"doc", d}, {"line", doc.line}, {"target", doc.rolling_target},
                               {"tokens", scores[d].tokens}, {"windows", scores[d].windows}, {"words", doc.words},
                               {"bytes", doc.bytes}, {"loglikelihood", scores[d].loglikelihood}}
                    .dump()
             << "\n";
    }
  }
  auto metrics = perplexity_metrics(task.name, totals);
  if (options.log) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    options.log(fmt::format("{} ({} docs, {} windows of {} tokens, {:.1f} s): word pplx {:.4f}, token pplx {:.4f}",
                            task.name, task.documents.size(), windows,
                            resolve_max_length(model->config(), options.engine.max_length), seconds, metrics[0].value,
                            metrics[3].value));
  }
  return metrics;
}

}  // namespace matquant::eval
