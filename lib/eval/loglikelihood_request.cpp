#include "eval/loglikelihood_request.h"

#include "eval/python_text.h"

namespace matquant::eval {

RequestBuilder::RequestBuilder(const model::Tokenizer& tokenizer)
    : tokenizer_(tokenizer), prefix_token_(tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : tokenizer.eos_id()) {
  // The text of the prefix token (tokenizer.decode(bos) in lm-eval); our decode drops control
  // tokens, so find which spelling the tokenizer reads as that token.
  for (const char* candidate : {"<s>", "<bos>", "</s>", "<eos>", "<|endoftext|>"}) {
    if (tokenizer_.encode(candidate, false) == std::vector<int64_t>{prefix_token_}) {
      prefix_text_ = candidate;
      break;
    }
  }
}

std::vector<int64_t> RequestBuilder::encode_default(const std::string& text) const {
  const bool starts_with_prefix = !prefix_text_.empty() && text.rfind(prefix_text_, 0) == 0;
  return tokenizer_.encode(text, !starts_with_prefix);
}

TokenizedRequest RequestBuilder::build(const std::string& context, const std::string& continuation) const {
  TokenizedRequest request;
  if (context.empty()) {
    std::vector<int64_t> tokens = tokenizer_.encode(continuation, false);
    if (!tokens.empty() && tokens.front() == prefix_token_) {
      request.context = {tokens.front()};
      request.continuation.assign(tokens.begin() + 1, tokens.end());
    } else {
      request.context = {prefix_token_};
      request.continuation = std::move(tokens);
    }
    return request;
  }
  const size_t spaces = trailing_whitespace_bytes(context);
  const std::string moved_context = context.substr(0, context.size() - spaces);
  const std::string moved_continuation = context.substr(context.size() - spaces) + continuation;
  const std::vector<int64_t> whole = encode_default(moved_context + moved_continuation);
  request.context = encode_default(moved_context);
  if (request.context.size() <= whole.size()) {
    request.continuation.assign(whole.begin() + int64_t(request.context.size()), whole.end());
  }
  return request;
}

}  // namespace matquant::eval
