#pragma once
// Post-training weight formats, named in eval.precisions as "rtn:FORMAT" (seed 004's
// round-to-nearest rows): "intD", D-bit per-output-channel affine MinMax (Eq. 1, seed 004's
// "per-channel affine" INT), and "mxintD-B", MXINTd-b (lib/quant/mx_format.h). Parsed without
// LibTorch so that `sweep plan` validates them.
#include <cstdint>
#include <string>

namespace matquant::quant {

struct WeightFormat {
  enum class Kind { kInt, kMxInt };
  Kind kind = Kind::kInt;
  int bits = 8;
  int64_t block_size = 0;  // MXINT only
  std::string name() const;  // "int4", "mxint4-128"
  // Bits stored per weight: D, plus the shared 8-bit scale over B values for MXINT.
  double bits_per_weight() const;
};

// "int4", "INT8", "mxint4-128"; anything else is an invalid-input error naming the text.
WeightFormat parse_weight_format(const std::string& text);

constexpr const char* kPostTrainingPrefix = "rtn:";

}  // namespace matquant::quant
