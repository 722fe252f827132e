#pragma once
// A precision plan says which bit width r each layer is sliced to: one r for the whole model, or
// one per layer (Mix'n'Match). Text form: "4" (uniform) or "2,4,8,8,4,2" (one entry per layer).
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::quant {

class PrecisionPlan {
 public:
  static PrecisionPlan uniform(int bits);
  static PrecisionPlan per_layer(std::vector<int> bits);
  // Throws an invalid-input error naming the offending entry.
  static PrecisionPlan parse(const std::string& text);

  bool is_uniform() const { return per_layer_.empty(); }
  // Bits of layer `layer` of a model with `layer_count` layers; throws if the plan's length differs.
  int bits_for_layer(int layer, int layer_count) const;
  int uniform_bits() const { return uniform_bits_; }
  const std::vector<int>& layers() const { return per_layer_; }
  std::string to_string() const;

  // Mean bits per parameter, weighting each layer by its quantized parameter count.
  double effective_bits(const std::vector<int64_t>& params_per_layer) const;

 private:
  int uniform_bits_ = 8;
  std::vector<int> per_layer_;
};

}  // namespace matquant::quant
