#include "quant/precision_plan.h"

#include "common/error.h"

#include <gtest/gtest.h>

using matquant::quant::PrecisionPlan;

TEST(PrecisionPlan, UniformAndPerLayerParse) {
  const PrecisionPlan u = PrecisionPlan::parse("4");
  EXPECT_TRUE(u.is_uniform());
  EXPECT_EQ(u.bits_for_layer(7, 26), 4);
  const PrecisionPlan p = PrecisionPlan::parse("2, 4,8,4 ,2");
  EXPECT_FALSE(p.is_uniform());
  EXPECT_EQ(p.bits_for_layer(2, 5), 8);
  EXPECT_EQ(p.to_string(), "2,4,8,4,2");
  EXPECT_EQ(PrecisionPlan::parse(p.to_string()).layers(), p.layers());
}

TEST(PrecisionPlan, EffectiveBitsWeighsLayersByParameters) {
  const PrecisionPlan p = PrecisionPlan::per_layer({2, 8});
  EXPECT_DOUBLE_EQ(p.effective_bits({100, 100}), 5.0);
  EXPECT_DOUBLE_EQ(p.effective_bits({300, 100}), 3.5);
}

TEST(PrecisionPlan, RejectsBadPlans) {
  EXPECT_THROW(PrecisionPlan::parse(""), matquant::Error);
  EXPECT_THROW(PrecisionPlan::parse("2,,4"), matquant::Error);
  EXPECT_THROW(PrecisionPlan::parse("int4"), matquant::Error);
  EXPECT_THROW(PrecisionPlan::parse("0"), matquant::Error);
  EXPECT_THROW(PrecisionPlan::parse("2,4").bits_for_layer(0, 3), matquant::Error);
}
