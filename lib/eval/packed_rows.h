#pragma once
// How log-likelihood requests become model inputs. Requests sharing a context (every choice of a
// multiple-choice question but WinoGrande's) are packed into one row: the context once, then each
// continuation's tokens (all but the last, which is only predicted) as its own segment at the
// positions it would have after the context, attending to the context and to itself only. So the
// shared prefix is computed once and every continuation sees exactly what it would see alone.
// Requests longer than max_length + 1 are left-truncated as lm-eval does and get a row of their own.
#include "eval/loglikelihood_request.h"

#include <cstdint>
#include <vector>

namespace matquant::eval {

struct ScoredSpan {
  size_t request = 0;
  std::vector<int64_t> predict_at;  // row index whose output predicts targets[i]
  std::vector<int64_t> targets;     // the continuation tokens
};

struct PackedRow {
  std::vector<int64_t> tokens;
  std::vector<int64_t> positions;  // rotary position of each token
  std::vector<int64_t> segments;   // 0 = context, k >= 1 = continuation k (attends to 0 and k)
  std::vector<ScoredSpan> spans;
};

// Rows sorted longest first (lm-eval's order); share_contexts = false gives one row per request.
std::vector<PackedRow> plan_rows(const std::vector<TokenizedRequest>& requests, int64_t max_length,
                                 bool share_contexts);

}  // namespace matquant::eval
