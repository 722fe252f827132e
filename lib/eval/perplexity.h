#pragma once
// Held-out log-perplexity as quantization papers report it: the mean next-token negative
// log-likelihood (natural log) over every predicted token of fixed-length windows, and its exp.
#include "model/decoder.h"

namespace matquant::eval {

struct PerplexityResult {
  double log_perplexity = 0.0;  // mean NLL per token
  double perplexity = 0.0;
  int64_t tokens = 0;
  double seconds = 0.0;
};

// windows: int64 [N, L]; each row is scored on its tokens 1..L-1 given the preceding ones.
PerplexityResult evaluate_perplexity(model::DecoderModel& model, const at::Tensor& windows, int64_t batch_size);

}  // namespace matquant::eval
