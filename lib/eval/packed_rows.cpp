#include "eval/packed_rows.h"

#include "common/error.h"

#include <algorithm>
#include <map>

namespace matquant::eval {

namespace {

// One request alone, as lm-eval's _loglikelihood_tokens feeds it: (context + continuation)[:-1],
// left-truncated to max_length, scoring the last len(continuation) outputs.
PackedRow single_row(const TokenizedRequest& r, size_t index, int64_t max_length) {
  std::vector<int64_t> whole = r.context;
  whole.insert(whole.end(), r.continuation.begin(), r.continuation.end());
  const int64_t keep = std::min<int64_t>(int64_t(whole.size()), max_length + 1);
  PackedRow row;
  row.tokens.assign(whole.end() - keep, whole.end() - 1);
  const int64_t length = int64_t(row.tokens.size());
  const int64_t scored = int64_t(r.continuation.size());
  if (scored > length) throw Error(ErrorCode::kInvalidInput, "a continuation is longer than the model's context");
  for (int64_t i = 0; i < length; ++i) {
    row.positions.push_back(i);
    row.segments.push_back(0);
  }
  ScoredSpan span;
  span.request = index;
  span.targets = r.continuation;
  for (int64_t i = length - scored; i < length; ++i) span.predict_at.push_back(i);
  row.spans.push_back(std::move(span));
  return row;
}

}  // namespace

std::vector<PackedRow> plan_rows(const std::vector<TokenizedRequest>& requests, int64_t max_length,
                                 bool share_contexts) {
  std::vector<PackedRow> rows;
  std::map<std::vector<int64_t>, std::vector<size_t>> by_context;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    if (r.context.empty()) throw Error(ErrorCode::kInternal, "log-likelihood request without context tokens");
    if (r.continuation.empty()) {  // nothing to score: log-likelihood 0
      PackedRow row;
      row.spans.push_back({i, {}, {}});
      rows.push_back(std::move(row));
      continue;
    }
    const bool fits = int64_t(r.context.size() + r.continuation.size()) <= max_length + 1;
    if (share_contexts && fits) {
      by_context[r.context].push_back(i);
    } else {
      rows.push_back(single_row(r, i, max_length));
    }
  }
  for (const auto& [context, members] : by_context) {
    PackedRow row;
    int64_t segment = 0;
    for (const size_t index : members) {
      const auto& continuation = requests[index].continuation;
      const int64_t added = int64_t(continuation.size()) - 1;
      if (row.spans.empty() || int64_t(row.tokens.size()) + added > max_length) {
        if (!row.spans.empty()) rows.push_back(std::move(row));
        row = PackedRow{};
        segment = 0;
        row.tokens = context;
        for (int64_t p = 0; p < int64_t(context.size()); ++p) {
          row.positions.push_back(p);
          row.segments.push_back(0);
        }
      }
      ++segment;
      ScoredSpan span;
      span.request = index;
      span.targets = continuation;
      span.predict_at.push_back(int64_t(context.size()) - 1);
      for (int64_t j = 0; j < added; ++j) {
        span.predict_at.push_back(int64_t(row.tokens.size()));
        row.tokens.push_back(continuation[size_t(j)]);
        row.positions.push_back(int64_t(context.size()) + j);
        row.segments.push_back(segment);
      }
      row.spans.push_back(std::move(span));
    }
    if (!row.spans.empty()) rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const PackedRow& a, const PackedRow& b) { return a.tokens.size() > b.tokens.size(); });
  return rows;
}

}  // namespace matquant::eval
