#include "quant/mix_n_match.h"

#include "common/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace matquant::quant {

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

PrecisionPlan mix_n_match_plan(MixStrategy strategy, double target_bits, int layers) {
  if (layers < 1) throw_invalid("Mix'n'Match needs at least one layer");
  if (!(target_bits >= 2.0 && target_bits <= 8.0)) {
    throw_invalid(fmt::format("Mix'n'Match target {} bits is outside [2, 8]", target_bits));
  }
  const bool low = target_bits <= 4.0;
  const int lower = low ? 2 : 4;
  const int upper = low ? 4 : 8;
  const int high_count = static_cast<int>(std::lround(layers * (target_bits - lower) / double(upper - lower)));
  // Rank layers by how much precision the strategy gives them (rank 0 = most).
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
  std::vector<int> bits(static_cast<size_t>(layers), lower);
  for (int i = 0; i < high_count; ++i) bits[size_t(order[size_t(i)])] = upper;
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
