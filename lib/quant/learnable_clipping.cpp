#include "quant/learnable_clipping.h"

namespace matquant::quant {

LearnableClippingImpl::LearnableClippingImpl(int64_t out_features, int64_t groups, double init) {
  upper_logit = register_parameter("upper_logit", at::full({out_features, groups, 1}, init));
  lower_logit = register_parameter("lower_logit", at::full({out_features, groups, 1}, init));
}

at::Tensor LearnableClippingImpl::gamma() const { return upper_logit.sigmoid(); }
at::Tensor LearnableClippingImpl::beta() const { return lower_logit.sigmoid(); }

AffineParams LearnableClippingImpl::params(const at::Tensor& grouped, int bits) const {
  at::Tensor xmin = std::get<0>(grouped.min(-1, true));
  at::Tensor xmax = std::get<0>(grouped.max(-1, true));
  return affine_params_from_range(beta() * xmin, gamma() * xmax, bits);
}

}  // namespace matquant::quant
