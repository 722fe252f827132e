#pragma once
// How lm-evaluation-harness' Hugging Face backend cuts one text into log-likelihood requests for
// loglikelihood_rolling (lm_eval/models/huggingface.py loglikelihood_rolling, lm_eval/utils.py
// get_rolling_token_windows + make_disjoint_window, context_len = 1):
//   - the first window predicts the first min(max_length, n) tokens from [prefix] + those tokens;
//   - each later window predicts the next min(n - predicted, max_length) tokens, its input being
//     the max_length tokens before its last one, so a full window has one token of context and the
//     last, shorter one is conditioned on the tokens before it.
// After make_disjoint_window each window is a (context, continuation) request of at most
// max_length + 1 tokens whose continuation is exactly the tokens it predicts; every token of the
// text is predicted once. `tokens` is tok_encode(text): BOS included when the tokenizer adds it,
// so the first prediction is BOS after the prefix token (usually BOS too), as lm-eval scores it.
#include "eval/loglikelihood_request.h"

#include <cstdint>
#include <vector>

namespace matquant::eval {

std::vector<TokenizedRequest> rolling_windows(const std::vector<int64_t>& tokens, int64_t prefix_token,
                                              int64_t max_length, int64_t context_length = 1);

}  // namespace matquant::eval
