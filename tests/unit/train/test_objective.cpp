#include "train/objective.h"

#include "common/error.h"

#include <gtest/gtest.h>

using matquant::train::Objective;

TEST(Objective, PlainMatQuantWithPaperLambdas) {
  const Objective o = Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  ASSERT_EQ(o.targets().size(), 3u);
  EXPECT_DOUBLE_EQ(o.targets()[2].lambda, 1.0);
  EXPECT_TRUE(o.targets()[0].ground_truth);
  EXPECT_FALSE(o.uses_distillation());
  EXPECT_EQ(o.to_string(), "[8, 4, 2]");
}

// The three configurations of the paper's Table 4.
TEST(Objective, PaperDistillationConfigs) {
  const Objective a = Objective::parse("[8, 4, 2, 8->2]");
  EXPECT_EQ(a.bits(), (std::vector<int>{8, 4, 2}));
  EXPECT_TRUE(a.targets()[2].ground_truth);
  EXPECT_EQ(a.targets()[2].teacher, 8);

  const Objective b = Objective::parse("[8, 4, 8->2]");
  EXPECT_EQ(b.bits(), (std::vector<int>{8, 4, 2}));
  EXPECT_FALSE(b.targets()[2].ground_truth);  // 2 learns from distillation alone
  EXPECT_EQ(b.targets()[2].teacher, 8);

  const Objective c = Objective::parse("[8, 4, 2, 8->4;2]", {{8, 0.1}, {4, 0.1}, {2, 1.0}});
  EXPECT_EQ(c.targets()[1].teacher, 8);
  EXPECT_EQ(c.targets()[2].teacher, 8);
  EXPECT_TRUE(c.targets()[1].ground_truth);
  EXPECT_DOUBLE_EQ(c.targets()[0].lambda, 0.1);
}

TEST(Objective, RoundTripsThroughCanonicalText) {
  for (const char* text : {"[8, 4, 2, 8->2]", "[8, 4, 8->2]", "[8, 4, 2, 8->4;2]", "[2]",
                           "8,4,2,8->2", " [ 8 , 4 , 8 -> 2 ] "}) {
    const Objective o = Objective::parse(text);
    EXPECT_EQ(Objective::parse(o.to_string()).to_string(), o.to_string()) << text;
  }
  EXPECT_EQ(Objective::parse(" [ 8 , 4 , 8 -> 2 ] ").to_string(), "[8, 4, 8->2]");
}

TEST(Objective, RejectsMalformedStrings) {
  for (const char* bad : {"", "[]", "[8, 4", "[8,,4]", "[8, x]", "[8, 4, 4]", "[8, 2->8]",
                          "[8, 4->2]" /* teacher not trained */, "[8, 8->2, 4->2]",
                          "[8, 8->2->1]", "[9]", "[8, 8->]"}) {
    EXPECT_THROW(Objective::parse(bad), matquant::Error) << bad;
  }
  EXPECT_THROW(Objective::parse("[8, 4]", {{2, 1.0}}), matquant::Error);
  EXPECT_THROW(Objective::plain({8, 4}, {1.0}), matquant::Error);
}

TEST(Objective, ErrorMessageQuotesTheConfig) {
  try {
    Objective::parse("[8, 4->2]");
    FAIL();
  } catch (const matquant::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[8, 4->2]"), std::string::npos);
  }
}
