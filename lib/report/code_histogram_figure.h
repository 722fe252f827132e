#pragma once
// Quantized-weight histograms (paper Figures 1c and 4): one panel per precision, one bar (or, for
// wide codes, one line) per checkpoint, the share of weights at each r-bit code.
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::report {

struct CodeCounts {
  int bits = 0;
  std::vector<int64_t> counts;  // per code value 0 .. size - 1 (2^r, or 2^r + 1 with the extra bucket)
};

struct CheckpointCodeCounts {
  std::string label;                 // legend text ("int8 baseline", "MatQuant")
  std::vector<CodeCounts> per_bits;  // the same bit widths, in the same order, for every checkpoint
};

// Counts as percentages of their total (all zero if the total is zero).
std::vector<double> percentages(const std::vector<int64_t>& counts);

// Panels side by side (a second row past three). Bit widths up to 4 are grouped bars; wider ones
// are lines over the code values. Throws kInvalidInput when the checkpoints' widths differ.
std::string render_code_histograms_svg(const std::vector<CheckpointCodeCounts>& checkpoints, const std::string& title);

}  // namespace matquant::report
