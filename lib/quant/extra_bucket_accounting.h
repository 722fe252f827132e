#pragma once
// What an Extra-Precision (Eq. 8) slice costs in storage. The r-bit codes need r bits each; a
// weight whose slice is the extra level 2^c also needs that fact stored somewhere. How it is
// stored is the accounting; the paper does not name one, and its Table 7 figures
// (2.05 / 3.03 / 4.02 / 6.02 bits) fit an exception list with a 32-bit index per extra weight
// with under 1% of weights in the bucket (the poster's figure). docs/quant.md has the arithmetic.
#include "quant/slicing.h"

#include <string>

namespace matquant::quant {

enum class ExtraBitsAccounting {
  kFlag,      // r + f: one bit per extra weight, its position free (a lower bound)
  kBitPlane,  // r + 1: one more bit for every weight (the r+1-bit code)
  kIndex32,   // r + 32 f: a list of the extra weights' flat int32 positions in the matrix
  kRowIndex,  // r + f ceil(log2 in) + ceil(log2(in + 1)) / in: per row, a count and column indices
};

// Reported as `weights/effective_bits` (why: docs/quant.md, "Effective bits of Extra-Precision").
inline constexpr ExtraBitsAccounting kDefaultExtraBitsAccounting = ExtraBitsAccounting::kIndex32;

// "flag", "bit_plane", "index32", "row_index".
std::string accounting_name(ExtraBitsAccounting accounting);

// Bits per weight beyond r for one code matrix's stats; 0 when r = c (no extra bucket).
double extra_bits_per_weight(const ExtraBucketStats& stats, ExtraBitsAccounting accounting);

// r + extra_bits_per_weight.
double effective_bits(const ExtraBucketStats& stats,
                      ExtraBitsAccounting accounting = kDefaultExtraBitsAccounting);

}  // namespace matquant::quant
