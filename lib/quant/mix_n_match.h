#pragma once
// Mix'n'Match plans (paper Section 4.3, Appendix B): per-layer int2/int4/int8 assignments at a
// target effective bit width, laid out by one of four strategies.
//   pyramid          int2 at the first and last layers, int8 in the middle, int4 between
//   reverse_pyramid  the opposite: int8 at the ends, int2 in the middle
//   increasing       precision rises with depth
//   decreasing       precision falls with depth
// Counts: a target b <= 4 mixes int2 and int4, b > 4 mixes int4 and int8 (the two neighbouring
// widths), with round(L * fraction) layers at the higher one; the plan's actual effective bits are
// what gets reported, not the target.
#include "quant/precision_plan.h"

#include <string>
#include <vector>

namespace matquant::quant {

enum class MixStrategy { kPyramid, kReversePyramid, kIncreasing, kDecreasing };

MixStrategy parse_mix_strategy(const std::string& name);
std::string to_string(MixStrategy strategy);

PrecisionPlan mix_n_match_plan(MixStrategy strategy, double target_bits, int layers);

// "pyramid@3.5" -> plan for `layers` layers; "2,4,8,..." and "4" parse as PrecisionPlan::parse.
PrecisionPlan plan_from_text(const std::string& text, int layers);

}  // namespace matquant::quant
