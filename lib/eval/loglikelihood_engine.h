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
  int64_t max_length = 0;       // 0 = the model's max_position_embeddings (2048 if unset)
  bool share_contexts = true;   // compute a shared context once per row
  std::function<void(int64_t done, int64_t total)> on_progress;  // rows done
};

std::vector<LoglikelihoodResult> score_requests(model::DecoderModel& model,
                                                const std::vector<TokenizedRequest>& requests,
                                                const EngineOptions& options = {});

}  // namespace matquant::eval
