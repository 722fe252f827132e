#include "quant/precision_plan.h"

#include "common/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <sstream>

namespace matquant::quant {

static int checked_bits(int bits, const std::string& where) {
  if (bits < 1 || bits > 16) {
    throw_invalid(fmt::format("precision plan {}: bit width must be in 1..16, got {}", where, bits));
  }
  return bits;
}

PrecisionPlan PrecisionPlan::uniform(int bits) {
  PrecisionPlan plan;
  plan.uniform_bits_ = checked_bits(bits, "uniform");
  return plan;
}

PrecisionPlan PrecisionPlan::per_layer(std::vector<int> bits) {
  if (bits.empty()) throw_invalid("precision plan: the per-layer list is empty");
  for (size_t i = 0; i < bits.size(); ++i) checked_bits(bits[i], fmt::format("layer {}", i));
  PrecisionPlan plan;
  plan.per_layer_ = std::move(bits);
  plan.uniform_bits_ = plan.per_layer_.front();
  return plan;
}

PrecisionPlan PrecisionPlan::parse(const std::string& text) {
  std::vector<int> bits;
  std::stringstream stream(text);
  std::string item;
  int index = 0;
  while (std::getline(stream, item, ',')) {
    size_t begin = item.find_first_not_of(" \t");
    size_t end = item.find_last_not_of(" \t");
    const std::string trimmed = begin == std::string::npos ? "" : item.substr(begin, end - begin + 1);
    if (trimmed.empty()) {
      throw_invalid(fmt::format("precision plan '{}': entry {} is empty", text, index));
    }
    for (char ch : trimmed) {
      if (!std::isdigit(static_cast<unsigned char>(ch))) {
        throw_invalid(fmt::format("precision plan '{}': entry {} ('{}') is not a bit width", text,
                                  index, trimmed));
      }
    }
    bits.push_back(checked_bits(std::stoi(trimmed), fmt::format("entry {}", index)));
    ++index;
  }
  if (bits.empty()) throw_invalid("precision plan is empty");
  if (bits.size() == 1 && text.find(',') == std::string::npos) return uniform(bits.front());
  return per_layer(std::move(bits));
}

int PrecisionPlan::bits_for_layer(int layer, int layer_count) const {
  if (is_uniform()) return uniform_bits_;
  if (static_cast<int>(per_layer_.size()) != layer_count) {
    throw_invalid(fmt::format("precision plan {} has {} entries but the model has {} layers",
                              to_string(), per_layer_.size(), layer_count));
  }
  return per_layer_.at(static_cast<size_t>(layer));
}

std::string PrecisionPlan::to_string() const {
  if (is_uniform()) return std::to_string(uniform_bits_);
  return fmt::format("{}", fmt::join(per_layer_, ","));
}

double PrecisionPlan::effective_bits(const std::vector<int64_t>& params_per_layer) const {
  double weighted = 0.0;
  double total = 0.0;
  const int n = static_cast<int>(params_per_layer.size());
  for (int i = 0; i < n; ++i) {
    weighted += double(bits_for_layer(i, n)) * double(params_per_layer[i]);
    total += double(params_per_layer[i]);
  }
  return total == 0.0 ? 0.0 : weighted / total;
}

}  // namespace matquant::quant
