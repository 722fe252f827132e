#pragma once
// A linear projection whose weight can be served quantized. Three states:
//   full precision (no quantizer, or precision unset): y = x W^T + b
//   training: fake-quantized to c bits and sliced to the selected r, straight-through gradients,
//             scales from MinMax (QAT) or learnable clipping (OmniQuant)
//   frozen:   a NestedCodes store; the weight is the dequantized r-bit slice (cached per r)
// Switching the precision switches which model the same object serves.
#include "quant/learnable_clipping.h"
#include "quant/nested_codes.h"

#include <torch/nn/module.h>

#include <map>
#include <optional>

namespace matquant::model {

struct QuantizerConfig {
  int source_bits = 8;  // c
  int64_t group_size = 0;
  bool learnable_clipping = false;
  quant::SliceMode slice_mode = quant::SliceMode::kClamped;
};

class QuantizedLinearImpl : public torch::nn::Module {
 public:
  QuantizedLinearImpl(int64_t in_features, int64_t out_features, bool bias);

  at::Tensor forward(const at::Tensor& x);

  void enable_quantizer(const QuantizerConfig& config);
  bool has_quantizer() const { return quantizer_.has_value(); }
  const std::optional<QuantizerConfig>& quantizer() const { return quantizer_; }
  // r to serve; nullopt serves the full-precision weight.
  void set_precision(std::optional<int> bits);
  std::optional<int> precision() const { return precision_; }
  // The weight the forward pass uses at the current precision.
  at::Tensor effective_weight();
  // Quantizes the current weight (with learned clipping if any) into a nested code store.
  void freeze_codes();
  void load_codes(quant::NestedCodes codes);
  const std::optional<quant::NestedCodes>& codes() const { return codes_; }

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  quant::LearnableClipping clipping{nullptr};

 private:
  std::optional<QuantizerConfig> quantizer_;
  std::optional<int> precision_;
  std::optional<quant::NestedCodes> codes_;
  std::map<int, at::Tensor> dequantized_cache_;
};
TORCH_MODULE(QuantizedLinear);

}  // namespace matquant::model
