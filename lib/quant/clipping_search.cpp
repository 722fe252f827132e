#include "quant/clipping_search.h"

#include "common/error.h"

#include <c10/core/GradMode.h>

namespace matquant::quant {

AffineParams search_clipping(const at::Tensor& weight, const at::Tensor& hessian, int source_bits, int64_t group_size,
                             const std::vector<int>& bits, const std::vector<double>& lambdas, SliceMode mode,
                             const ClippingSearch& search) {
  if (bits.empty() || bits.size() != lambdas.size()) throw_invalid("clipping search needs one lambda per precision");
  c10::NoGradGuard no_grad;
  const at::Tensor grouped = to_groups(weight.detach().to(at::kFloat), group_size);  // [out, groups, G]
  const int64_t groups = grouped.size(1), width = grouped.size(2);
  // The diagonal blocks H_gg, [groups, G, G].
  const at::Tensor h = hessian.to(grouped.device(), at::kFloat);
  const at::Tensor blocks = h.view({groups, width, groups, width}).diagonal(0, 0, 2).permute({2, 0, 1});
  const at::Tensor xmin = std::get<0>(grouped.min(-1, true));
  const at::Tensor xmax = std::get<0>(grouped.max(-1, true));
  const at::Tensor absmax = at::maximum(xmin.abs(), xmax.abs());
  at::Tensor best_error, best_lo, best_hi;
  const int steps = std::max(1, int(search.max_shrink * search.grid));
  for (int i = 0; i < steps; ++i) {
    const at::Tensor m = absmax * (1.0 - double(i) / double(search.grid));
    const at::Tensor lo = at::maximum(xmin, -m), hi = at::minimum(xmax, m);
    const AffineParams params = affine_params_from_range(lo, hi, source_bits);
    const at::Tensor codes = quantize_codes(grouped, params, source_bits);
    at::Tensor error = at::zeros({grouped.size(0), groups}, grouped.options());
    for (size_t k = 0; k < bits.size(); ++k) {
      const at::Tensor d = dequantize_codes(slice_codes(codes, source_bits, bits[k], mode), params) - grouped;
      error += lambdas[k] * at::einsum("ogi,gij,ogj->og", {d, blocks, d});
    }
    if (!best_error.defined()) {
      best_error = error;
      best_lo = lo;
      best_hi = hi;
    } else {
      const at::Tensor better = (error < best_error).unsqueeze(-1);
      best_error = at::minimum(error, best_error);
      best_lo = at::where(better, lo, best_lo);
      best_hi = at::where(better, hi, best_hi);
    }
  }
  return affine_params_from_range(best_lo, best_hi, source_bits);
}

}  // namespace matquant::quant
