#include "quant/slicing.h"

#include "common/error.h"

#include <fmt/format.h>

#include <algorithm>

namespace matquant::quant {

void check_slice_bits(int from_bits, int to_bits) {
  if (from_bits < 1 || from_bits > 16) {
    throw_invalid(fmt::format("source bit width c must be in 1..16, got {}", from_bits));
  }
  if (to_bits < 1 || to_bits > from_bits) {
    throw_invalid(fmt::format("sliced bit width r must be in 1..{} (c), got {}", from_bits, to_bits));
  }
}

int64_t slice_code(int64_t code, int from_bits, int to_bits, SliceMode mode) {
  check_slice_bits(from_bits, to_bits);
  const int shift = from_bits - to_bits;
  if (shift == 0) return code;
  const int64_t kept = code >> shift;                      // the r MSBs
  const int64_t next_bit = (code >> (shift - 1)) & 1;      // the (r+1)-th MSB
  int64_t sliced = kept + next_bit;
  if (mode == SliceMode::kClamped) sliced = std::min<int64_t>(sliced, (int64_t{1} << to_bits) - 1);
  return sliced << shift;
}

at::Tensor slice_codes(const at::Tensor& codes, int from_bits, int to_bits, SliceMode mode) {
  check_slice_bits(from_bits, to_bits);
  if (from_bits == to_bits) return codes;
  const double step = static_cast<double>(int64_t{1} << (from_bits - to_bits));
  at::Tensor levels = (codes / step + 0.5).floor();
  if (mode == SliceMode::kClamped) {
    levels = levels.clamp(0.0, static_cast<double>((int64_t{1} << to_bits) - 1));
  }
  return levels * step;
}

at::Tensor slice_codes_ste(const at::Tensor& codes, int from_bits, int to_bits, SliceMode mode) {
  return (slice_codes(codes.detach(), from_bits, to_bits, mode) - codes).detach() + codes;
}

ExtraBucketStats extra_bucket_stats(const at::Tensor& codes, int from_bits, int to_bits) {
  check_slice_bits(from_bits, to_bits);
  ExtraBucketStats stats;
  stats.total = codes.numel();
  stats.rows = codes.dim() >= 2 ? codes.size(0) : 1;
  stats.from_bits = from_bits;
  stats.to_bits = to_bits;
  if (from_bits == to_bits) return stats;
  const at::Tensor sliced =
      slice_codes(codes.to(at::kFloat), from_bits, to_bits, SliceMode::kExtraPrecision);
  const double top = static_cast<double>(int64_t{1} << from_bits);
  stats.in_extra_bucket = sliced.ge(top).sum().item<int64_t>();
  return stats;
}

}  // namespace matquant::quant
