#pragma once
// Mix'n'Match plans (paper Section 4.3, Appendix B; poster "222....444....888....444....222"):
// per-layer int2/int4/int8 assignments at a target effective bit width, laid out by one of four
// strategies.
//   pyramid          int2 at the first and last layers, int8 in the centre, int4 between
//   reverse_pyramid  the opposite: int8 at the ends, int2 in the centre, int4 between
//   increasing       precision rises with depth: int2 first, then int4, then int8
//   decreasing       precision falls with depth
// How many layers get each width is our rule (the paper gives none), the same for every strategy
// so that they are compared at equal bits; see mix_n_match_counts and docs/quant.md. The plan's
// actual effective bits are what gets reported, not the target.
#include "quant/precision_plan.h"

#include <string>
#include <vector>

namespace matquant::quant {

enum class MixStrategy { kPyramid, kReversePyramid, kIncreasing, kDecreasing };

MixStrategy parse_mix_strategy(const std::string& name);
std::string to_string(MixStrategy strategy);

// Layers at each width; int2 + int4 + int8 = layers.
struct MixCounts {
  int int2 = 0;
  int int4 = 0;
  int int8 = 0;
  double effective_bits() const;  // per layer, every layer weighted equally
};

// Counts for `layers` layers at `target_bits` in [2, 8]. Targets 2 and 8 are uniform. Otherwise,
// among the counts whose bits lie within 2/layers of the target (one layer moving int2 -> int4),
// the one with the most distinct widths, then the nearest bits, then the most int4 layers, then
// the fewest bits; the nearest counts when none is that close.
MixCounts mix_n_match_counts(double target_bits, int layers);

// The counts above, laid out by the strategy: layers ranked by how much precision the strategy
// gives them (ties: lower index first), the top int8 ones at int8, the next int4 at int4, the rest int2.
PrecisionPlan mix_n_match_plan(MixStrategy strategy, double target_bits, int layers);

// "pyramid@3.5" -> plan for `layers` layers; "2,4,8,..." and "4" parse as PrecisionPlan::parse.
PrecisionPlan plan_from_text(const std::string& text, int layers);

}  // namespace matquant::quant
