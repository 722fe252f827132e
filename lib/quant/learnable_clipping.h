#pragma once
// Learnable weight clipping (OmniQuant, paper Eq. 3): per group, the range is
// [sigmoid(b) * min(w), sigmoid(a) * max(w)], with a = b = 4.0 at start (sigmoid(4) ~ 0.982).
#include "quant/minmax.h"

#include <torch/nn/module.h>

namespace matquant::quant {

inline constexpr double kClippingInit = 4.0;

class LearnableClippingImpl : public torch::nn::Module {
 public:
  // One (a, b) pair per output channel and group.
  LearnableClippingImpl(int64_t out_features, int64_t groups, double init = kClippingInit);

  // grouped: [out, groups, G]. Gradients reach a and b through the scale.
  AffineParams params(const at::Tensor& grouped, int bits) const;

  at::Tensor gamma() const;  // sigmoid(a), multiplies max(w)
  at::Tensor beta() const;   // sigmoid(b), multiplies min(w)

  at::Tensor upper_logit;  // a: [out, groups, 1]
  at::Tensor lower_logit;  // b: [out, groups, 1]
};
TORCH_MODULE(LearnableClipping);

}  // namespace matquant::quant
