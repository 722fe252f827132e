#include "quant/mix_n_match.h"

#include "common/error.h"

#include <gtest/gtest.h>

using namespace matquant::quant;

// Appendix B's four layouts, by hand for 6 layers at 3 bits (half int2, half int4).
TEST(MixNMatch, StrategiesLayOutPrecisionAsTheAppendixDescribes) {
  EXPECT_EQ(mix_n_match_plan(MixStrategy::kPyramid, 3.0, 6).layers(), (std::vector<int>{2, 4, 4, 4, 2, 2}));
  EXPECT_EQ(mix_n_match_plan(MixStrategy::kReversePyramid, 3.0, 6).layers(), (std::vector<int>{4, 4, 2, 2, 2, 4}));
  EXPECT_EQ(mix_n_match_plan(MixStrategy::kIncreasing, 3.0, 6).layers(), (std::vector<int>{2, 2, 2, 4, 4, 4}));
  EXPECT_EQ(mix_n_match_plan(MixStrategy::kDecreasing, 3.0, 6).layers(), (std::vector<int>{4, 4, 4, 2, 2, 2}));
  // Above 4 bits int4 and int8 mix: a 5-layer pyramid at 6.4 bits has int8 in the middle.
  EXPECT_EQ(mix_n_match_plan(MixStrategy::kPyramid, 6.4, 5).layers(), (std::vector<int>{4, 8, 8, 8, 4}));
}

TEST(MixNMatch, EffectiveBitsFollowTheTarget) {
  for (double target : {2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0}) {
    const PrecisionPlan plan = mix_n_match_plan(MixStrategy::kPyramid, target, 26);
    EXPECT_NEAR(plan.effective_bits(std::vector<int64_t>(26, 1)), target, 4.0 / 26 / 2 + 1e-9) << target;
  }
}

TEST(MixNMatch, PlanTextForms) {
  EXPECT_EQ(plan_from_text("pyramid@3", 6).layers(), (std::vector<int>{2, 4, 4, 4, 2, 2}));
  EXPECT_TRUE(plan_from_text("4", 6).is_uniform());
  EXPECT_EQ(plan_from_text("2,8", 2).layers(), (std::vector<int>{2, 8}));
  EXPECT_THROW(plan_from_text("pyramid@x", 6), matquant::Error);
  EXPECT_THROW(plan_from_text("zigzag@3", 6), matquant::Error);
  EXPECT_THROW(plan_from_text("pyramid@9", 6), matquant::Error);
}
