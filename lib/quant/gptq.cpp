#include "quant/gptq.h"

#include "common/error.h"
#include "kernels/fused_ops.h"

#include <c10/core/GradMode.h>

#include <fmt/format.h>

#include <numeric>

namespace matquant::quant {

namespace {

std::vector<double> normalised(const std::vector<double>& lambdas) {
  const double total = std::accumulate(lambdas.begin(), lambdas.end(), 0.0);
  if (!(total > 0.0)) throw_invalid("GPTQ needs a positive sum of lambda weights");
  std::vector<double> out;
  for (double l : lambdas) out.push_back(l / total);
  return out;
}

void check_targets(const std::vector<int>& bits, const std::vector<double>& lambdas, int source_bits) {
  if (bits.empty() || bits.size() != lambdas.size()) {
    throw_invalid(fmt::format("GPTQ needs one lambda per precision ({} precisions, {} lambdas)", bits.size(), lambdas.size()));
  }
  for (int r : bits) {
    if (r < 1 || r > source_bits) throw_invalid(fmt::format("GPTQ precision int{} is outside 1..{}", r, source_bits));
  }
}

// The upper Cholesky factor U of (H + damp I)^-1 (H^-1 = U^T U), computed as GPTQ does: Cholesky of
// the dampened H, its inverse from the factor, then the upper factor of that inverse.
std::optional<at::Tensor> inverse_hessian_factor(at::Tensor h, double dampening) {
  const at::Tensor diagonal = h.diagonal();
  diagonal.add_(dampening * diagonal.mean().item<double>());
  auto [lower, info] = at::linalg_cholesky_ex(h);
  if (info.item<int64_t>() != 0) return std::nullopt;
  auto [upper, info_inverse] = at::linalg_cholesky_ex(at::cholesky_inverse(lower), /*upper=*/true);
  if (info_inverse.item<int64_t>() != 0) return std::nullopt;
  return upper;
}

}  // namespace

void HessianAccumulator::add(const at::Tensor& inputs) {
  c10::NoGradGuard no_grad;
  const at::Tensor x = inputs.detach().reshape({-1, inputs.size(-1)}).to(at::kFloat);
  const int64_t n = x.size(0);
  if (n == 0) return;
  if (!hessian_.defined()) hessian_ = at::zeros({x.size(1), x.size(1)}, x.options());
  // Running mean of 2 x x^T, scaled as GPTQ's add_batch does so the sum never grows with n.
  hessian_.mul_(double(rows_) / double(rows_ + n));
  rows_ += n;
  hessian_.addmm_(x.t(), x, 1.0, 2.0 / double(rows_));
}

GptqResult gptq_quantize(const at::Tensor& weight, const at::Tensor& hessian, GptqGrid& grid,
                         const GptqConfig& config) {
  c10::NoGradGuard no_grad;
  if (weight.dim() != 2) throw_invalid("GPTQ quantizes a 2-D weight [out, in]");
  const int64_t columns = weight.size(1);
  const bool round_to_nearest = !hessian.defined();
  if (round_to_nearest && config.activation_order) throw_invalid("GPTQ activation order needs a Hessian");
  if (!round_to_nearest && (hessian.dim() != 2 || hessian.size(0) != columns || hessian.size(1) != columns)) {
    throw_invalid(fmt::format("GPTQ: the Hessian must be [{0}, {0}] for a weight with {0} input columns", columns));
  }
  if (config.block_size < 1) throw_invalid("GPTQ block size must be positive");
  if (config.dampening < 0.0) throw_invalid("GPTQ dampening must not be negative");
  const int64_t unit = grid.unit();
  if (config.activation_order && !grid.allows_reordering()) {
    throw_invalid("GPTQ activation order needs per-channel or per-group scales (an MX block's scale comes from "
                  "contiguous columns)");
  }
  // Lazy blocks hold whole units.
  const int64_t block = (std::max(config.block_size, unit) + unit - 1) / unit * unit;

  at::Tensor w = weight.detach().to(at::kFloat).clone();
  at::Tensor order = at::arange(columns, w.options().dtype(at::kLong));
  GptqResult result;
  std::optional<at::Tensor> factor;
  if (!round_to_nearest) {
    at::Tensor h = hessian.detach().to(w.device(), at::kFloat).clone();
    // A column no input ever reached carries no loss: GPTQ zeroes it and makes H invertible there.
    const at::Tensor diagonal = h.diagonal().clone();  // the order is taken before dead columns are fixed
    const at::Tensor dead = diagonal == 0;
    h.diagonal().masked_fill_(dead, 1.0);
    w.masked_fill_(dead.unsqueeze(0), 0.0);
    if (config.activation_order) {
      order = at::argsort(diagonal, /*stable=*/true, /*dim=*/0, /*descending=*/true);
      w = w.index_select(1, order);
      h = h.index_select(0, order).index_select(1, order);
    }
    factor = inverse_hessian_factor(h, config.dampening);
    // llm-compressor falls back to round to nearest the same way: with U = I no error moves.
    result.hessian_fallback = !factor;
  }
  // LAPACK and cuSOLVER return column-major factors; rows are read here.
  const at::Tensor u = factor ? factor->contiguous() : at::eye(columns, w.options());
  at::Tensor q = at::empty_like(w);
  at::Tensor loss = at::zeros({}, w.options().dtype(at::kDouble));
  for (int64_t i1 = 0; i1 < columns; i1 += block) {
    const int64_t i2 = std::min(i1 + block, columns);
    at::Tensor w1 = w.slice(1, i1, i2).clone();
    at::Tensor err1 = at::zeros_like(w1);
    const at::Tensor u1 = u.slice(0, i1, i2).slice(1, i1, i2);
    at::Tensor q1;
    const bool whole_block = unit == 1 && grid.quantize_block(w1, u1, order.slice(0, i1, i2), q1, err1);
    if (whole_block) {
      q.slice(1, i1, i2).copy_(q1);
      loss += err1.square().sum().to(at::kDouble) / 2.0;
    }
    for (int64_t j = 0; !whole_block && j < i2 - i1; j += unit) {
      const int64_t k = std::min(j + unit, i2 - i1);
      const at::Tensor values = w1.slice(1, j, k);
      const at::Tensor rounded = grid.quantize(values, order.slice(0, i1 + j, i1 + k));
      q.slice(1, i1 + j, i1 + k).copy_(rounded);
      at::Tensor e;
      if (k - j == 1) {
        e = (values - rounded) / u1[j][j];
      } else {
        // A micro-block rounded at once (Algorithm 1, Line 13): E (U_jj) = W - Q.
        e = at::linalg_solve_triangular(u1.slice(0, j, k).slice(1, j, k), values - rounded, /*upper=*/true,
                                        /*left=*/false);
      }
      loss += e.square().sum().to(at::kDouble) / 2.0;
      err1.slice(1, j, k).copy_(e);
      if (factor && k < i2 - i1) w1.slice(1, k, i2 - i1).sub_(at::matmul(e, u1.slice(0, j, k).slice(1, k, i2 - i1)));
    }
    // With U = I (round to nearest, or the fallback) the rest of the matrix receives nothing.
    if (factor && i2 < columns) w.slice(1, i2, columns).sub_(at::matmul(err1, u.slice(0, i1, i2).slice(1, i2, columns)));
  }
  if (config.activation_order) q = q.index_select(1, at::argsort(order));
  result.quantized = q;
  result.loss = loss.item<double>();
  return result;
}

NestedAffineGrid::NestedAffineGrid(const at::Tensor& weight, int source_bits, int64_t group_size, std::vector<int> bits,
                                   std::vector<double> lambdas, SliceMode mode, const std::optional<AffineParams>& params) {
  check_targets(bits, lambdas, source_bits);
  c10::NoGradGuard no_grad;
  // The store starts as the round-to-nearest codes; quantize() overwrites each column.
  store_ = NestedCodes::quantize(weight, source_bits, group_size, params);
  plain_ = bits.size() == 1 && bits[0] == source_bits;
  bits_ = bits;
  normalised_lambdas_ = normalised(lambdas);
  mode_ = mode;
  const at::Tensor all_codes = at::arange(int64_t(1) << source_bits, weight.options().dtype(at::kFloat));
  std::vector<at::Tensor> levels;
  for (int r : bits) levels.push_back(slice_codes(all_codes, source_bits, r, mode));
  level_values_ = at::stack(levels);
  weights_ = at::tensor(std::vector<float>(normalised_lambdas_.begin(), normalised_lambdas_.end()),
                        weight.options().dtype(at::kFloat));
}

at::Tensor NestedAffineGrid::quantize(const at::Tensor& values, const at::Tensor& columns) {
  // One column at a time (unit 1): values [out, 1], its group's scale and zero point.
  const int64_t column = columns.item<int64_t>();
  const int64_t group = store_.group_size > 0 ? column / store_.group_size : 0;
  const at::Tensor scale = store_.scale.select(1, group).unsqueeze(1);      // [out, 1]
  const at::Tensor zero = store_.zero_point.select(1, group).unsqueeze(1);  // [out, 1]
  const double top = double((int64_t(1) << store_.bits) - 1);
  at::Tensor code;
  at::Tensor target;
  if (plain_) {
    code = (at::round(values / scale) + zero).clamp(0.0, top);
    target = (code - zero) * scale;
  } else {
    // [out, |R|, 2^c]: each precision's dequantized value for every code.
    const at::Tensor dequantized = (level_values_.unsqueeze(0) - zero.unsqueeze(-1)) * scale.unsqueeze(-1);
    const at::Tensor error = (values.unsqueeze(-1) - dequantized).square();  // [out, |R|, 2^c]
    const at::Tensor best = at::argmin((error * weights_.view({1, -1, 1})).sum(1), 1, /*keepdim=*/true);  // [out, 1]
    code = best.to(at::kFloat);
    const at::Tensor chosen = dequantized.gather(2, best.unsqueeze(1).expand({-1, dequantized.size(1), 1}));
    target = (chosen.squeeze(-1) * weights_.unsqueeze(0)).sum(1, /*keepdim=*/true);
  }
  store_.codes.select(1, column).copy_(code.squeeze(1).to(at::kByte));
  return target;
}

bool NestedAffineGrid::quantize_block(at::Tensor& w1, const at::Tensor& u1, const at::Tensor& columns, at::Tensor& q1,
                                      at::Tensor& err1) {
  if (!kernels::fused_kernels_enabled(w1) || !w1.is_contiguous() || bits_.size() > 8) return false;
  const at::Tensor groups = store_.group_size > 0 ? at::div(columns, store_.group_size, "floor")
                                                  : at::zeros_like(columns);
  const at::Tensor scale = store_.scale.index_select(1, groups);
  const at::Tensor zero = store_.zero_point.index_select(1, groups);
  at::Tensor codes;
  std::tie(q1, err1, codes) =
      plain_ ? kernels::gptq_block_affine(w1, u1, scale, zero, int((int64_t(1) << store_.bits) - 1))
             : kernels::gptq_block_nested(w1, u1, scale, zero, store_.bits, bits_, normalised_lambdas_,
                                          mode_ == SliceMode::kExtraPrecision);
  store_.codes.index_copy_(1, columns, codes);
  return true;
}

NestedCodes NestedAffineGrid::codes() const { return store_; }

NestedMxGrid::NestedMxGrid(int64_t out_features, int64_t in_features, MxFormat format, std::vector<int> bits,
                           std::vector<double> lambdas)
    : format_(format), bits_(std::move(bits)), weights_(normalised(lambdas)) {
  check_targets(bits_, lambdas, format_.element_bits);
  for (int r : bits_) {
    if (r < 2) throw_invalid(fmt::format("MXINT elements have 2..8 bits, not {}", r));
  }
  const int64_t blocks = (in_features + format_.block_size - 1) / format_.block_size;
  codes_ = at::zeros({out_features, in_features}, at::kChar);
  exponents_ = at::zeros({out_features, blocks}, at::kShort);
}

at::Tensor NestedMxGrid::quantize(const at::Tensor& values, const at::Tensor& columns) {
  const int64_t first = columns[0].item<int64_t>();
  if (first % format_.block_size != 0) throw Error(ErrorCode::kInternal, "MX GPTQ unit does not start a block");
  const int d = format_.element_bits;
  if (codes_.device() != values.device()) {
    codes_ = codes_.to(values.device());
    exponents_ = exponents_.to(values.device());
  }
  const MxCodes rounded = mx_quantize(values, format_);  // the block's exponent from its current values
  const at::Tensor e = rounded.exponents.to(at::kDouble);      // [out, 1]
  const at::Tensor v = values.to(at::kDouble);
  auto dequantize_slice = [&](const at::Tensor& code, int r) {
    const at::Tensor sliced = slice_mx_codes({code.to(at::kChar), rounded.exponents, format_}, r).codes.to(at::kDouble);
    return sliced * at::exp2(e - double(r - 2));
  };
  at::Tensor best = rounded.codes.to(at::kDouble);
  if (!(bits_.size() == 1 && bits_[0] == d)) {
    // Candidates: the d-bit code that lands exactly on each precision's nearest r-bit point.
    std::vector<at::Tensor> candidates;
    for (int r : bits_) {
      const int64_t bound = (int64_t(1) << (r - 1)) - 1;
      const at::Tensor scaled = v * at::exp2(double(r - 2) - e);
      const at::Tensor k_r = (at::sign(scaled) * at::floor(at::abs(scaled) + 0.5)).clamp(-double(bound), double(bound));
      const int64_t top = (int64_t(1) << (d - 1)) - 1;
      candidates.push_back((k_r * std::ldexp(1.0, d - r)).clamp(-double(top), double(top)));
    }
    candidates.push_back(best);
    at::Tensor best_loss;
    for (const auto& candidate : candidates) {
      at::Tensor loss = at::zeros_like(v);
      for (size_t i = 0; i < bits_.size(); ++i) loss += weights_[i] * (v - dequantize_slice(candidate, bits_[i])).square();
      if (!best_loss.defined()) {
        best_loss = loss;
        best = candidate;
      } else {
        const at::Tensor better = loss < best_loss;
        best = at::where(better, candidate, best);
        best_loss = at::where(better, loss, best_loss);
      }
    }
  }
  at::Tensor target = at::zeros_like(v);
  for (size_t i = 0; i < bits_.size(); ++i) target += weights_[i] * dequantize_slice(best, bits_[i]);
  codes_.slice(1, first, first + values.size(1)).copy_(best.to(at::kChar));
  exponents_.select(1, first / format_.block_size).copy_(rounded.exponents.squeeze(1));
  return target.to(values.scalar_type());
}

MxCodes NestedMxGrid::codes() const { return {codes_, exponents_, format_}; }

}  // namespace matquant::quant
