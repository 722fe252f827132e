#pragma once
// Scores log-likelihood requests with a decoder: sum over the continuation of log p(token | prefix)
// and whether greedy decoding would produce it, as lm-evaluation-harness' Hugging Face backend
// returns them. Rows (eval/packed_rows.h) are run longest first in batches of `batch_size`,
// right-padded; log-softmax is taken in fp32 whatever the model's dtype.
#include "eval/loglikelihood_request.h"
#include "model/decoder.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace matquant::eval {

struct LoglikelihoodResult {
  double loglikelihood = 0.0;
  bool is_greedy = false;
};

struct EngineOptions {
  int64_t batch_size = 16;
  int64_t max_length = 0;       // eval.max_length; 0 = default_max_length (resolve_max_length)
  bool share_contexts = true;   // compute a shared context once per row
  // Rows queued on the device so far (results are read once, after the last batch).
  std::function<void(int64_t done, int64_t total)> on_progress;
};

// The model's input length for evaluation (lm-eval's HFLM.max_length): `requested` when > 0, else
// the config's max_position_embeddings capped at kDefaultMaxLengthCap (2048 when unset). lm-eval
// itself does not cap; the cap bounds memory for 8k-context models and matches the 2048-token
// windows perplexity papers use. Inputs longer than max_length + 1 are left-truncated; rolling
// perplexity windows are max_length tokens.
constexpr int64_t kDefaultMaxLengthCap = 2048;
int64_t resolve_max_length(const model::ModelConfig& config, int64_t requested);

std::vector<LoglikelihoodResult> score_requests(model::DecoderModel& model,
                                                const std::vector<TokenizedRequest>& requests,
                                                const EngineOptions& options = {});

}  // namespace matquant::eval
