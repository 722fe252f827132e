#pragma once
// How often each r-bit code occurs in a nested checkpoint (paper Figures 1c and 4): the stored
// c-bit codes of every quantized projection, sliced to r bits (Eq. 6, or Eq. 8 for an
// Extra-Precision checkpoint), counted per code value. Read straight from the safetensors file;
// no model is built.
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::train {

struct CodeHistogram {
  int source_bits = 0;           // c, the stored width
  int bits = 0;                  // r
  bool extra_precision = false;  // Eq. 8: one more code, 2^r (the extra bucket)
  std::vector<int64_t> counts;   // counts[q] for r-bit codes q = 0 .. 2^r - 1 (.. 2^r with extra precision)
};

// One histogram per entry of `bits`, in that order. Throws kInvalidInput for a file that is not a
// nested checkpoint or an r above the stored width, kNotFound for a missing file.
std::vector<CodeHistogram> checkpoint_code_histograms(const std::string& checkpoint_path, const std::vector<int>& bits);

}  // namespace matquant::train
