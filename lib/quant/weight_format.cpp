#include "quant/weight_format.h"

#include "common/error.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace matquant::quant {

std::string WeightFormat::name() const {
  return kind == Kind::kInt ? "int" + std::to_string(bits)
                            : "mxint" + std::to_string(bits) + "-" + std::to_string(block_size);
}

double WeightFormat::bits_per_weight() const {
  return kind == Kind::kInt ? double(bits) : double(bits) + 8.0 / double(block_size);
}

WeightFormat parse_weight_format(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  WeightFormat format;
  int bits = 0;
  long long block = 0;
  char tail = 0;
  if (std::sscanf(lower.c_str(), "mxint%d-%lld%c", &bits, &block, &tail) == 2 && bits >= 2 && bits <= 8 &&
      block >= 1 && block <= (1 << 20)) {
    format.kind = WeightFormat::Kind::kMxInt;
    format.bits = bits;
    format.block_size = block;
    return format;
  }
  if (lower.rfind("mx", 0) != 0 && std::sscanf(lower.c_str(), "int%d%c", &bits, &tail) == 1 && bits >= 1 && bits <= 8) {
    format.bits = bits;
    return format;
  }
  throw_invalid("'" + text + "' is not a weight format (intD: D-bit per-channel affine, D 1..8; mxintD-B: MX integers, "
                "D 2..8 bits, B values per block)");
}

}  // namespace matquant::quant
