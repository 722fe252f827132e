#pragma once
// (context, continuation) -> token ids exactly as lm-evaluation-harness' Hugging Face backend builds
// them (lm_eval/api/model.py loglikelihood and _encode_pair; models/huggingface.py tok_encode):
//   - trailing whitespace of the context moves to the front of the continuation;
//   - context + continuation are encoded together, the context alone, and the continuation is the
//     whole's tokens after the context's count;
//   - encoding adds special tokens as the tokenizer is configured to (BOS for Llama-2, Gemma, ...),
//     except for text that already starts with the BOS text;
//   - an empty context becomes [BOS] (EOS when there is none) and the continuation is encoded
//     without special tokens; if it already starts with that token, its first token is the context.
#include "model/tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace matquant::eval {

struct TokenizedRequest {
  std::vector<int64_t> context;
  std::vector<int64_t> continuation;
};

class RequestBuilder {
 public:
  explicit RequestBuilder(const model::Tokenizer& tokenizer);
  TokenizedRequest build(const std::string& context, const std::string& continuation) const;
  int64_t prefix_token_id() const { return prefix_token_; }
  // lm-eval's tok_encode(text): the tokenizer's default special tokens, none when the text already
  // starts with the BOS text. loglikelihood_rolling encodes its whole text this way.
  std::vector<int64_t> encode_default(const std::string& text) const;

 private:

  const model::Tokenizer& tokenizer_;
  int64_t prefix_token_;
  std::string prefix_text_;  // e.g. "<s>"; empty when unknown
};

}  // namespace matquant::eval
