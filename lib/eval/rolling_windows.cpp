#include "eval/rolling_windows.h"

#include "common/error.h"

#include <algorithm>

namespace matquant::eval {

namespace {

std::vector<int64_t> slice(const std::vector<int64_t>& v, int64_t begin, int64_t end) {
  return std::vector<int64_t>(v.begin() + begin, v.begin() + end);
}

// make_disjoint_window: the context loses the tokens the continuation repeats.
TokenizedRequest disjoint(std::vector<int64_t> context, std::vector<int64_t> continuation) {
  context.resize(context.size() - (continuation.size() - 1));
  return {std::move(context), std::move(continuation)};
}

}  // namespace

std::vector<TokenizedRequest> rolling_windows(const std::vector<int64_t>& tokens, int64_t prefix_token,
                                              int64_t max_length, int64_t context_length) {
  if (context_length < 1 || context_length > max_length) {
    throw Error(ErrorCode::kInvalidInput, "rolling windows need 1 <= context length <= max length");
  }
  std::vector<TokenizedRequest> windows;
  const int64_t n = int64_t(tokens.size());
  if (n == 0) return windows;
  const int64_t prediction_length = max_length - context_length + 1;
  const int64_t first = std::min(max_length, n);
  std::vector<int64_t> context{prefix_token};
  context.insert(context.end(), tokens.begin(), tokens.begin() + (first - 1));
  windows.push_back(disjoint(std::move(context), slice(tokens, 0, first)));
  int64_t predicted = first;
  while (predicted < n) {
    const int64_t length = std::min(n - predicted, prediction_length);
    const int64_t end = predicted + length;
    // Python's tokens[end - max_length - 1 : end - 1]; the start is never negative here because
    // the first window already predicted max_length tokens.
    windows.push_back(disjoint(slice(tokens, std::max<int64_t>(0, end - max_length - 1), end - 1),
                               slice(tokens, end - length, end)));
    predicted += length;
  }
  return windows;
}

}  // namespace matquant::eval
