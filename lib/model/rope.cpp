#include "model/rope.h"

#include "kernels/fused_ops.h"

#include <ATen/autocast_mode.h>

#include <cmath>

namespace matquant::model {

at::Tensor rope_inverse_frequencies(const RopeConfig& rope, int64_t head_dim,
                                    const at::Device& device) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  const at::Tensor exponents = at::arange(0, head_dim, 2, f32.dtype(at::kLong)).to(at::kFloat) /
                               static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(rope.theta, exponents);
  if (rope.type == "linear") return inv_freq / rope.factor;
  if (rope.type != "llama3") return inv_freq;
  // Llama 3.1: long wavelengths divided by factor, short ones kept, a smooth blend in between.
  const double old_context = static_cast<double>(rope.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / rope.low_freq_factor;
  const double high_freq_wavelen = old_context / rope.high_freq_factor;
  const at::Tensor wavelen = 2.0 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq);
  const at::Tensor smooth = (old_context / wavelen - rope.low_freq_factor) /
                            (rope.high_freq_factor - rope.low_freq_factor);
  const at::Tensor smoothed = (1.0 - smooth) * scaled / rope.factor + smooth * scaled;
  const at::Tensor medium = wavelen.ge(high_freq_wavelen).logical_and(wavelen.le(low_freq_wavelen));
  return at::where(medium, smoothed, scaled);
}

RopeTables rope_tables(const at::Tensor& inverse_frequencies, const at::Tensor& positions,
                       at::ScalarType dtype) {
  // positions: [B, T] -> freqs [B, T, head_dim / 2]
  const at::Tensor freqs =
      positions.to(at::kFloat).unsqueeze(-1) * inverse_frequencies.view({1, 1, -1});
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

static at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables, bool for_autocast_matmul) {
  if (kernels::rotary_embedding_applies(x, tables.cos, tables.sin)) {
    const bool bf16_out = for_autocast_matmul && x.is_cuda() && at::autocast::is_autocast_enabled(at::kCUDA) &&
                          at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
    return kernels::rotary_embedding(x, tables.cos, tables.sin, bf16_out);
  }
  const at::Tensor cos = tables.cos.unsqueeze(1);
  const at::Tensor sin = tables.sin.unsqueeze(1);
  return x * cos + rotate_half(x) * sin;
}

}  // namespace matquant::model
