// Mix'n'Match plans: Appendix B's four layouts and our count rule (docs/quant.md), by hand.
#include "quant/mix_n_match.h"

#include "common/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

using namespace matquant::quant;

namespace {

constexpr MixStrategy kStrategies[] = {MixStrategy::kPyramid, MixStrategy::kReversePyramid,
                                       MixStrategy::kIncreasing, MixStrategy::kDecreasing};

std::array<int, 3> counts_of(const MixCounts& c) { return {c.int2, c.int4, c.int8}; }

// Layers of a plan at int2, int4, int8.
std::array<int, 3> counts_of(const std::vector<int>& bits) {
  return {int(std::count(bits.begin(), bits.end(), 2)), int(std::count(bits.begin(), bits.end(), 4)),
          int(std::count(bits.begin(), bits.end(), 8))};
}

std::vector<int> plan(MixStrategy strategy, double target, int layers) {
  return mix_n_match_plan(strategy, target, layers).layers();
}

double mean_bits(const std::vector<int>& bits) {
  return PrecisionPlan::per_layer(bits).effective_bits(std::vector<int64_t>(bits.size(), 1));
}

// Brute force: is there an int2/int4/int8 mix with every width present within 2/L of the target?
bool three_width_mix_within_one_step(double target, int layers) {
  for (int n8 = 1; n8 < layers; ++n8) {
    for (int n4 = 1; n4 + n8 < layers; ++n4) {
      const double bits = (2.0 * (layers - n4 - n8) + 4.0 * n4 + 8.0 * n8) / layers;
      if (std::abs(bits - target) <= 2.0 / layers + 1e-9) return true;
    }
  }
  return false;
}

}  // namespace

// 6 layers at 4 bits: 2 n2 + 4 n4 + 8 n8 = 24 with all three widths has one solution, (2, 3, 1).
// Pyramid ranks by distance from the centre 2.5 (ties: lower index first): 2, 3, 1, 4, 0, 5.
TEST(MixNMatch, PyramidAtFourBitsOnSixLayers) {
  EXPECT_EQ(counts_of(mix_n_match_counts(4.0, 6)), (std::array<int, 3>{2, 3, 1}));
  EXPECT_EQ(plan(MixStrategy::kPyramid, 4.0, 6), (std::vector<int>{2, 4, 8, 4, 4, 2}));
  // Reverse ranks 0, 5, 1, 4, 2, 3; increasing 5..0; decreasing 0..5.
  EXPECT_EQ(plan(MixStrategy::kReversePyramid, 4.0, 6), (std::vector<int>{8, 4, 2, 2, 4, 4}));
  EXPECT_EQ(plan(MixStrategy::kIncreasing, 4.0, 6), (std::vector<int>{2, 2, 4, 4, 4, 8}));
  EXPECT_EQ(plan(MixStrategy::kDecreasing, 4.0, 6), (std::vector<int>{8, 4, 4, 4, 2, 2}));
}

// The old rule mixed only int2 and int4 below 4 bits: pyramid@3 on 6 layers was [2,4,4,4,2,2].
// Three widths need n4 + 3 n8 >= 4, i.e. at least 20/6 = 3.33 bits, within 2/6 of 3: (4, 1, 1).
TEST(MixNMatch, PyramidAtThreeBitsHasAnInt8Centre) {
  EXPECT_EQ(counts_of(mix_n_match_counts(3.0, 6)), (std::array<int, 3>{4, 1, 1}));
  const auto bits = plan(MixStrategy::kPyramid, 3.0, 6);
  EXPECT_EQ(bits, (std::vector<int>{2, 2, 8, 4, 2, 2}));
  EXPECT_NEAR(mean_bits(bits), 20.0 / 6, 1e-12);
  EXPECT_EQ(plan_from_text("pyramid@3", 6).layers(), bits);
}

// 6 layers at 5 bits: total 30 -> (1, 3, 2). Reverse ranks 0, 5, 1, 4, 2, 3: int8 at both ends.
TEST(MixNMatch, ReversePyramidHasInt8AtBothEnds) {
  EXPECT_EQ(counts_of(mix_n_match_counts(5.0, 6)), (std::array<int, 3>{1, 3, 2}));
  EXPECT_EQ(plan(MixStrategy::kReversePyramid, 5.0, 6), (std::vector<int>{8, 4, 4, 2, 4, 8}));
  EXPECT_EQ(plan(MixStrategy::kPyramid, 5.0, 6), (std::vector<int>{4, 4, 8, 8, 4, 2}));
}

// 5 layers at 6.4 bits: the window 2/5 = 0.4 reaches (1, 1, 3) at 6.0 bits exactly at its edge.
TEST(MixNMatch, WindowIncludesItsEdge) {
  EXPECT_EQ(counts_of(mix_n_match_counts(6.4, 5)), (std::array<int, 3>{1, 1, 3}));
  EXPECT_EQ(plan(MixStrategy::kPyramid, 6.4, 5), (std::vector<int>{4, 8, 8, 8, 2}));
}

TEST(MixNMatch, IncreasingRisesWithDepthAndDecreasingIsItsMirror) {
  for (int layers : {6, 26, 42}) {
    for (double target : {2.5, 3.0, 3.5, 4.0, 5.0, 6.0}) {
      const auto up = plan(MixStrategy::kIncreasing, target, layers);
      auto down = plan(MixStrategy::kDecreasing, target, layers);
      EXPECT_TRUE(std::is_sorted(up.begin(), up.end())) << layers << " @" << target;
      std::reverse(down.begin(), down.end());
      EXPECT_EQ(down, up) << layers << " @" << target;
    }
  }
  EXPECT_EQ(plan(MixStrategy::kIncreasing, 3.5, 6), (std::vector<int>{2, 2, 2, 4, 4, 8}));
}

// Gemma-2 9B's 42 layers at 3 bits: n4 + 3 n8 = 21 exactly; the most int4 with an int8 is (23, 18, 1).
TEST(MixNMatch, FortyTwoLayersAtThreeBits) {
  EXPECT_EQ(counts_of(mix_n_match_counts(3.0, 42)), (std::array<int, 3>{23, 18, 1}));
  const auto bits = plan(MixStrategy::kPyramid, 3.0, 42);
  EXPECT_DOUBLE_EQ(mean_bits(bits), 3.0);
  EXPECT_EQ(bits[20], 8);  // centre 20.5, tie to the lower index
  EXPECT_EQ(bits.front(), 2);
  EXPECT_EQ(bits.back(), 2);
}

TEST(MixNMatch, OneAndTwoLayers) {
  // One layer: the nearest width; 3 and 6 are as far from int4 as from int2 / int8: int4 wins.
  EXPECT_EQ(plan(MixStrategy::kPyramid, 2.5, 1), (std::vector<int>{2}));
  EXPECT_EQ(plan(MixStrategy::kPyramid, 3.0, 1), (std::vector<int>{4}));
  EXPECT_EQ(plan(MixStrategy::kPyramid, 6.0, 1), (std::vector<int>{4}));
  EXPECT_EQ(plan(MixStrategy::kPyramid, 7.0, 1), (std::vector<int>{8}));
  // Two layers: both are ends and both are centre, so the pyramids tie to the lower index.
  EXPECT_EQ(plan(MixStrategy::kPyramid, 3.0, 2), (std::vector<int>{4, 2}));
  EXPECT_EQ(plan(MixStrategy::kReversePyramid, 3.0, 2), (std::vector<int>{4, 2}));
  EXPECT_EQ(plan(MixStrategy::kIncreasing, 6.0, 2), (std::vector<int>{4, 8}));
  EXPECT_EQ(plan(MixStrategy::kDecreasing, 6.0, 2), (std::vector<int>{8, 4}));
  // Two widths beat one: at 4 bits (1, 1, 0) = 3 bits, not uniform int4.
  EXPECT_EQ(plan(MixStrategy::kIncreasing, 4.0, 2), (std::vector<int>{2, 4}));
}

TEST(MixNMatch, EndsOfTheRangeAreUniform) {
  for (MixStrategy strategy : kStrategies) {
    EXPECT_EQ(plan(strategy, 2.0, 6), std::vector<int>(6, 2));
    EXPECT_EQ(plan(strategy, 8.0, 6), std::vector<int>(6, 8));
  }
  EXPECT_THROW(mix_n_match_counts(1.5, 6), matquant::Error);
  EXPECT_THROW(mix_n_match_counts(8.5, 6), matquant::Error);
  EXPECT_THROW(mix_n_match_counts(3.0, 0), matquant::Error);
}

// Would have caught the two-width rule: every strategy, the reference sweeps' targets, a 6-layer,
// Gemma-2 2B (26) and 9B (42) depth. Every strategy gets the same counts (a fair comparison).
TEST(MixNMatch, AllThreeWidthsWheneverOneStepAllowsThem) {
  int three_width_plans = 0;
  for (int layers : {6, 26, 42}) {
    for (double target : {2.5, 3.0, 3.5, 5.0, 6.0}) {
      const auto counts = counts_of(mix_n_match_counts(target, layers));
      for (MixStrategy strategy : kStrategies) {
        const auto bits = plan(strategy, target, layers);
        const double effective = mean_bits(bits);
        EXPECT_EQ(counts_of(bits), counts) << to_string(strategy) << " " << layers << " @" << target;
        EXPECT_LE(std::abs(effective - target), 2.0 / layers + 1e-9) << layers << " @" << target;
        if (effective > 2.0 && effective < 8.0 && three_width_mix_within_one_step(target, layers)) {
          EXPECT_TRUE(counts[0] > 0 && counts[1] > 0 && counts[2] > 0)
              << to_string(strategy) << " " << layers << " @" << target;
          ++three_width_plans;
        }
      }
    }
  }
  // Only 6 layers at 2.5 bits has no three-width mix within 1/3 bit (it needs 3.33 bits).
  EXPECT_EQ(three_width_plans, 4 * 14);
}

TEST(MixNMatch, PyramidsPeakAndDipAtTheCentre) {
  for (int layers : {6, 26, 42}) {
    for (double target : {3.0, 3.5, 5.0, 6.0}) {
      const auto peak = plan(MixStrategy::kPyramid, target, layers);
      const auto dip = plan(MixStrategy::kReversePyramid, target, layers);
      const auto half = peak.begin() + (layers - 1) / 2 + 1;  // the lower central layer ends the rise
      EXPECT_TRUE(std::is_sorted(peak.begin(), half)) << layers << " @" << target;
      EXPECT_TRUE(std::is_sorted(half, peak.end(), std::greater<int>())) << layers << " @" << target;
      EXPECT_EQ(*std::max_element(peak.begin(), peak.end()), 8);
      EXPECT_EQ(dip.front(), 8) << layers << " @" << target;
      EXPECT_EQ(*std::min_element(dip.begin(), dip.end()), 2);
    }
  }
}

TEST(MixNMatch, PlanTextForms) {
  EXPECT_TRUE(plan_from_text("4", 6).is_uniform());
  EXPECT_EQ(plan_from_text("2,8", 2).layers(), (std::vector<int>{2, 8}));
  EXPECT_THROW(plan_from_text("pyramid@x", 6), matquant::Error);
  EXPECT_THROW(plan_from_text("zigzag@3", 6), matquant::Error);
  EXPECT_THROW(plan_from_text("pyramid@9", 6), matquant::Error);
}
