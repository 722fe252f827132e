#include "quant/mix_n_match.h"

#include "common/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace matquant::quant {

namespace {

// Bits that differ by less than this are equal: targets like 6.4 and windows like 2/5 are not exact.
constexpr double kBitsTolerance = 1e-9;

int distinct_widths(const MixCounts& c) { return int(c.int2 > 0) + int(c.int4 > 0) + int(c.int8 > 0); }

// True when `a` is preferred to `b` at `target`; see mix_n_match_counts. Distances are compared
// with a tolerance so that counts equally far above and below the target tie.
bool preferred(const MixCounts& a, const MixCounts& b, double target) {
  if (distinct_widths(a) != distinct_widths(b)) return distinct_widths(a) > distinct_widths(b);
  const double da = std::abs(a.effective_bits() - target);
  const double db = std::abs(b.effective_bits() - target);
  if (std::abs(da - db) > kBitsTolerance) return da < db;
  if (a.int4 != b.int4) return a.int4 > b.int4;
  return a.effective_bits() < b.effective_bits();
}

}  // namespace

MixStrategy parse_mix_strategy(const std::string& name) {
  if (name == "pyramid") return MixStrategy::kPyramid;
  if (name == "reverse_pyramid") return MixStrategy::kReversePyramid;
  if (name == "increasing") return MixStrategy::kIncreasing;
  if (name == "decreasing") return MixStrategy::kDecreasing;
  throw_invalid("Mix'n'Match strategy '" + name +
                "' is not one of: pyramid, reverse_pyramid, increasing, decreasing");
}

std::string to_string(MixStrategy strategy) {
  switch (strategy) {
    case MixStrategy::kPyramid: return "pyramid";
    case MixStrategy::kReversePyramid: return "reverse_pyramid";
    case MixStrategy::kIncreasing: return "increasing";
    case MixStrategy::kDecreasing: return "decreasing";
  }
  return "?";
}

double MixCounts::effective_bits() const {
  const int layers = int2 + int4 + int8;
  return layers == 0 ? 0.0 : (2.0 * int2 + 4.0 * int4 + 8.0 * int8) / layers;
}

MixCounts mix_n_match_counts(double target_bits, int layers) {
  if (layers < 1) throw_invalid("Mix'n'Match needs at least one layer");
  if (!(target_bits >= 2.0 && target_bits <= 8.0)) {
    throw_invalid(fmt::format("Mix'n'Match target {} bits is outside [2, 8]", target_bits));
  }
  if (target_bits == 2.0) return {layers, 0, 0};
  if (target_bits == 8.0) return {0, 0, layers};
  // The window is one layer moving int2 -> int4, widened to the nearest counts if none is that
  // close (never for a target in [2, 8]: reachable bits are 2/L apart, 4/L just below 8).
  std::vector<MixCounts> all;
  double nearest = 8.0;
  for (int n8 = 0; n8 <= layers; ++n8) {
    for (int n4 = 0; n4 + n8 <= layers; ++n4) {
      all.push_back({layers - n4 - n8, n4, n8});
      nearest = std::min(nearest, std::abs(all.back().effective_bits() - target_bits));
    }
  }
  const double window = std::max(2.0 / layers, nearest) + kBitsTolerance;
  const MixCounts* best = nullptr;
  for (const MixCounts& c : all) {
    if (std::abs(c.effective_bits() - target_bits) > window) continue;
    if (best == nullptr || preferred(c, *best, target_bits)) best = &c;
  }
  return *best;
}

PrecisionPlan mix_n_match_plan(MixStrategy strategy, double target_bits, int layers) {
  const MixCounts counts = mix_n_match_counts(target_bits, layers);
  // Rank layers by how much precision the strategy gives them (rank 0 = most); the stable sort
  // breaks ties (the two layers equally far from the centre) by lower index first.
  std::vector<int> order(static_cast<size_t>(layers));
  std::iota(order.begin(), order.end(), 0);
  const double centre = (layers - 1) / 2.0;
  auto key = [&](int layer) -> double {
    switch (strategy) {
      case MixStrategy::kPyramid: return std::abs(layer - centre);
      case MixStrategy::kReversePyramid: return -std::abs(layer - centre);
      case MixStrategy::kIncreasing: return -layer;
      case MixStrategy::kDecreasing: return layer;
    }
    return 0.0;
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
  std::vector<int> bits(static_cast<size_t>(layers), 2);
  for (int rank = 0; rank < layers; ++rank) {
    const int r = rank < counts.int8 ? 8 : rank < counts.int8 + counts.int4 ? 4 : 2;
    bits[size_t(order[size_t(rank)])] = r;
  }
  return PrecisionPlan::per_layer(bits);
}

PrecisionPlan plan_from_text(const std::string& text, int layers) {
  const auto at = text.find('@');
  if (at == std::string::npos) return PrecisionPlan::parse(text);
  double target = 0.0;
  try {
    size_t used = 0;
    target = std::stod(text.substr(at + 1), &used);
    if (used != text.size() - at - 1) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw_invalid("Mix'n'Match plan '" + text + "': expected STRATEGY@BITS, e.g. pyramid@3.5");
  }
  return mix_n_match_plan(parse_mix_strategy(text.substr(0, at)), target, layers);
}

}  // namespace matquant::quant
