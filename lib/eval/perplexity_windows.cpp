#include "eval/perplexity_windows.h"

#include "common/error.h"
#include "eval/python_random.h"

#include <map>

namespace matquant::eval {

at::Tensor gptq_random_windows(int64_t documents, const std::function<std::vector<int64_t>(int64_t)>& tokens_of,
                               int64_t seq_len, int64_t samples, uint64_t seed) {
  if (documents < 1) throw Error(ErrorCode::kInvalidInput, "perplexity: no documents to sample windows from");
  PythonRandom random(seed);
  std::map<int64_t, std::vector<int64_t>> tokenized;  // documents drawn so far
  int64_t long_enough = 0;
  at::Tensor windows = at::empty({samples, seq_len}, at::kLong);
  for (int64_t s = 0; s < samples; ++s) {
    const std::vector<int64_t>* tokens = nullptr;
    while (true) {
      const int64_t i = random.randint(0, documents - 1);
      auto found = tokenized.find(i);
      if (found == tokenized.end()) {
        found = tokenized.emplace(i, tokens_of(i)).first;
        if (int64_t(found->second.size()) >= seq_len) ++long_enough;
      }
      if (int64_t(found->second.size()) >= seq_len) {
        tokens = &found->second;
        break;
      }
      // GPTQ would loop forever here.
      if (long_enough == 0 && int64_t(tokenized.size()) == documents) {
        throw Error(ErrorCode::kInvalidInput, "perplexity: no document has " + std::to_string(seq_len) + " tokens");
      }
    }
    // GPTQ: randint(0, n - seq_len - 1), which Python refuses when n == seq_len.
    const int64_t start = random.randint(0, int64_t(tokens->size()) - seq_len - 1);
    for (int64_t t = 0; t < seq_len; ++t) windows[s][t] = (*tokens)[size_t(start + t)];
  }
  return windows;
}

at::Tensor gptq_random_windows(const std::vector<std::string>& documents, const model::Tokenizer& tokenizer,
                               int64_t seq_len, int64_t samples) {
  return gptq_random_windows(
      int64_t(documents.size()), [&](int64_t i) { return tokenizer.encode(documents[size_t(i)], true); }, seq_len,
      samples, 0);
}

at::Tensor concatenated_windows(const std::vector<std::string>& documents, const model::Tokenizer& tokenizer,
                                const std::string& separator, int64_t seq_len, int64_t max_windows) {
  if (documents.empty()) throw Error(ErrorCode::kInvalidInput, "perplexity: no documents to join");
  std::string joined;
  for (size_t i = 0; i < documents.size(); ++i) joined += (i == 0 ? "" : separator) + documents[i];
  return consecutive_windows(tokenizer.encode(joined, true), seq_len, max_windows);
}

at::Tensor consecutive_windows(const std::vector<int64_t>& tokens, int64_t seq_len, int64_t max_windows) {
  int64_t count = int64_t(tokens.size()) / seq_len;
  if (max_windows > 0) count = std::min(count, max_windows);
  if (count < 1) throw Error(ErrorCode::kInvalidInput, "perplexity: fewer tokens than one window");
  return at::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + count * seq_len), at::kLong)
      .view({count, seq_len});
}

}  // namespace matquant::eval
