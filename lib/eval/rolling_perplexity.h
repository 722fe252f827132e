#pragma once
// Perplexity tasks (lm-eval output_type loglikelihood_rolling, e.g. wikitext): each document's
// target text is encoded whole, cut into rolling windows (eval/rolling_windows.h), the windows are
// scored by the log-likelihood engine and summed per document. Metrics (lm_eval/api/metrics.py
// weighted_perplexity, bits_per_byte; sums over documents, not means of ratios):
//   word_perplexity = exp(-Σ loglik / Σ words), byte_perplexity = exp(-Σ loglik / Σ bytes),
//   bits_per_byte = -Σ loglik / Σ bytes / ln 2,
// and, as quantization papers quote them, log_pplx = -Σ loglik / Σ tokens (mean token NLL, natural
// log) and token_perplexity = exp(log_pplx), tokens being every predicted token (BOS included).
#include "eval/loglikelihood_engine.h"
#include "eval/task_document.h"
#include "eval/zero_shot.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace matquant::eval {

struct RollingScore {
  double loglikelihood = 0.0;  // sum over the windows
  int64_t tokens = 0;          // tokens predicted
  int64_t windows = 0;
};

// One score per text. All windows of all texts go through one score_requests call.
std::vector<RollingScore> score_rolling(model::DecoderModel& model, const RequestBuilder& builder,
                                        const std::vector<std::string>& texts, const EngineOptions& options);

struct PerplexityTotals {
  double loglikelihood = 0.0;
  int64_t tokens = 0;
  int64_t words = 0;
  int64_t bytes = 0;
};

// word_perplexity, byte_perplexity, bits_per_byte, token_perplexity, log_pplx for `task`.
std::vector<TaskMetric> perplexity_metrics(const std::string& task, const PerplexityTotals& totals);

// Scores a loaded rolling task; `saved` (may be null) gets one JSON line per document.
std::vector<TaskMetric> evaluate_rolling_task(model::DecoderModel& model, const RequestBuilder& builder,
                                              const LoadedTask& task, const ZeroShotOptions& options,
                                              std::ostream* saved);

}  // namespace matquant::eval
