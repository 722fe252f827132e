#pragma once
// Evaluation windows for held-out perplexity, as quantization papers draw them (docs/eval.md):
//   gptq:    GPTQ's / OmniQuant's get_c4 validation set (IST-DASLab/gptq datautils.py,
//            OpenGVLab/OmniQuant datautils.py): random.seed(0), then `samples` times: draw documents
//            with randint until one has >= seq_len tokens (BOS included), take the window starting
//            at randint(0, n - seq_len - 1). Python's generator is reproduced (eval/python_random.h).
//   concatenated chunks: GPTQ's c4-new / WikiText-2: documents joined by a separator, tokenized
//            once, cut into consecutive seq_len windows.
#include "model/tokenizer.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace matquant::eval {

// tokens_of(i): document i's tokens as the model's tokenizer gives them with special tokens.
at::Tensor gptq_random_windows(int64_t documents, const std::function<std::vector<int64_t>(int64_t)>& tokens_of,
                               int64_t seq_len, int64_t samples, uint64_t seed = 0);
at::Tensor gptq_random_windows(const std::vector<std::string>& documents, const model::Tokenizer& tokenizer,
                               int64_t seq_len, int64_t samples);

// GPTQ's WikiText-2 and c4-new test sets (IST-DASLab/gptq datautils.py get_wikitext2 / get_c4_new;
// seed 004's WikiText-2 and C4 perplexities): the documents joined by `separator` ("\n\n" for
// WikiText-2's rows, " " for C4), tokenized once as the tokenizer's __call__ does (BOS first), cut
// into consecutive seq_len windows, at most max_windows of them.
at::Tensor concatenated_windows(const std::vector<std::string>& documents, const model::Tokenizer& tokenizer,
                                const std::string& separator, int64_t seq_len, int64_t max_windows);

// Consecutive windows of `tokens`; max_windows <= 0 = as many as fit.
at::Tensor consecutive_windows(const std::vector<int64_t>& tokens, int64_t seq_len, int64_t max_windows);

}  // namespace matquant::eval
