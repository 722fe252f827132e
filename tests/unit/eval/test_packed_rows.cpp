// Row planning: shared contexts computed once, lm-eval's left truncation; expected rows derived by hand.
#include "eval/packed_rows.h"

#include <gtest/gtest.h>

namespace matquant::eval {

using Ids = std::vector<int64_t>;

TEST(PackedRows, ChoicesSharingAContextShareARow) {
  const std::vector<TokenizedRequest> requests = {{{1, 2, 3}, {4, 5}}, {{1, 2, 3}, {6}}, {{1, 2, 3}, {7, 8, 9}}};
  const auto rows = plan_rows(requests, 64, true);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].tokens, (Ids{1, 2, 3, 4, 7, 8}));
  EXPECT_EQ(rows[0].positions, (Ids{0, 1, 2, 3, 3, 4}));
  EXPECT_EQ(rows[0].segments, (Ids{0, 0, 0, 1, 3, 3}));
  ASSERT_EQ(rows[0].spans.size(), 3u);
  EXPECT_EQ(rows[0].spans[0].predict_at, (Ids{2, 3}));
  EXPECT_EQ(rows[0].spans[1].predict_at, (Ids{2}));
  EXPECT_EQ(rows[0].spans[2].predict_at, (Ids{2, 4, 5}));
  EXPECT_EQ(rows[0].spans[2].targets, (Ids{7, 8, 9}));
}

TEST(PackedRows, WithoutSharingEachRequestIsContextPlusContinuationMinusLast) {
  const std::vector<TokenizedRequest> requests = {{{1, 2}, {3}}, {{1, 2}, {4, 5, 6}}};
  const auto rows = plan_rows(requests, 64, false);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].tokens, (Ids{1, 2, 4, 5}));  // longest first
  EXPECT_EQ(rows[0].spans[0].predict_at, (Ids{1, 2, 3}));
  EXPECT_EQ(rows[1].tokens, (Ids{1, 2}));
  EXPECT_EQ(rows[1].spans[0].predict_at, (Ids{1}));
}

TEST(PackedRows, LongRequestsAreLeftTruncatedAsLmEvalDoes) {
  // (context + continuation)[-(max_length + 1):][:-1] with max_length 4: [3, 4, 5, 6]
  const std::vector<TokenizedRequest> requests = {{{1, 2, 3, 4, 5}, {6, 7}}};
  const auto rows = plan_rows(requests, 4, true);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].tokens, (Ids{3, 4, 5, 6}));
  EXPECT_EQ(rows[0].positions, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(rows[0].spans[0].predict_at, (Ids{2, 3}));
}

TEST(PackedRows, RowsSplitWhenTheyWouldExceedTheModelLength) {
  const std::vector<TokenizedRequest> requests = {{{1, 2}, {3, 4, 5}}, {{1, 2}, {6, 7, 8}}};
  const auto rows = plan_rows(requests, 5, true);  // 2 + 2 + 2 > 5
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].tokens, (Ids{1, 2, 3, 4}));
  EXPECT_EQ(rows[1].tokens, (Ids{1, 2, 6, 7}));
}

}  // namespace matquant::eval
