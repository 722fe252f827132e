#pragma once
// Slicing S(q^c, r): the r most significant bits of a c-bit code (paper Eq. 6, Appendix A),
// and the Extra-Precision variant of the errata (Eq. 8) that omits the clamp.
//
// Clamped (Eq. 6):  S = clamp(floor(q / 2^(c-r) + 1/2), 0, 2^r - 1) * 2^(c-r)
// Extra precision:  S = floor(q / 2^(c-r) + 1/2) * 2^(c-r)        (2^r + 1 levels, top one 2^c)
// The +1/2 implements Appendix A's rule: the r-th bit is rounded up when the (r+1)-th MSB is set.
#include <ATen/ATen.h>

#include <cstdint>

namespace matquant::quant {

enum class SliceMode { kClamped, kExtraPrecision };

// Scalar reference written with bit operations, independent of the tensor path.
int64_t slice_code(int64_t code, int from_bits, int to_bits, SliceMode mode);

// Tensor path on integer-valued floating codes; the result is in c-bit units.
at::Tensor slice_codes(const at::Tensor& codes, int from_bits, int to_bits, SliceMode mode);
// Same forward values, identity gradient (straight-through estimator).
at::Tensor slice_codes_ste(const at::Tensor& codes, int from_bits, int to_bits, SliceMode mode);

// The extra bucket of an Extra-Precision slice: the weights whose sliced code is 2^c, i.e. the
// c-bit codes q >= 2^c - 2^(c-r-1). The buckets nest (each r's holds every larger r's), and what
// they cost in bits is an accounting choice (quant/extra_bucket_accounting.h).
struct ExtraBucketStats {
  int64_t total = 0;  // weights counted
  int64_t rows = 0;   // output channels of the [out, in] code matrix (1 for a vector)
  int64_t in_extra_bucket = 0;
  int from_bits = 0;  // c
  int to_bits = 0;    // r
  double fraction() const { return total == 0 ? 0.0 : double(in_extra_bucket) / double(total); }
  int64_t in_features() const { return rows == 0 ? 0 : total / rows; }
};
ExtraBucketStats extra_bucket_stats(const at::Tensor& codes, int from_bits, int to_bits);

void check_slice_bits(int from_bits, int to_bits);

}  // namespace matquant::quant
