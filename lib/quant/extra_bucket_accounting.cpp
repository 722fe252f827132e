#include "quant/extra_bucket_accounting.h"

#include "common/error.h"

namespace matquant::quant {

namespace {

// Bits that index 0..n-1: ceil(log2 n), 0 for n <= 1.
int index_bits(int64_t n) {
  int bits = 0;
  while ((int64_t{1} << bits) < n) ++bits;
  return bits;
}

}  // namespace

std::string accounting_name(ExtraBitsAccounting accounting) {
  switch (accounting) {
    case ExtraBitsAccounting::kFlag: return "flag";
    case ExtraBitsAccounting::kBitPlane: return "bit_plane";
    case ExtraBitsAccounting::kIndex32: return "index32";
    case ExtraBitsAccounting::kRowIndex: return "row_index";
  }
  throw Error(ErrorCode::kInternal, "unknown extra-bits accounting");
}

double extra_bits_per_weight(const ExtraBucketStats& stats, ExtraBitsAccounting accounting) {
  if (stats.total == 0 || stats.to_bits >= stats.from_bits) return 0.0;
  const double extra = double(stats.in_extra_bucket);
  switch (accounting) {
    case ExtraBitsAccounting::kFlag: return stats.fraction();
    case ExtraBitsAccounting::kBitPlane: return 1.0;
    case ExtraBitsAccounting::kIndex32: return 32.0 * stats.fraction();
    case ExtraBitsAccounting::kRowIndex: {
      const int64_t in = stats.in_features();
      // Every row stores its count (0..in), even when it is 0, so the list can be walked.
      const double bits = extra * index_bits(in) + double(stats.rows) * index_bits(in + 1);
      return bits / double(stats.total);
    }
  }
  throw Error(ErrorCode::kInternal, "unknown extra-bits accounting");
}

double effective_bits(const ExtraBucketStats& stats, ExtraBitsAccounting accounting) {
  return stats.to_bits + extra_bits_per_weight(stats, accounting);
}

}  // namespace matquant::quant
