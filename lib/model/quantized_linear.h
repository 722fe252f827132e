#pragma once
// A linear projection whose weight can be served quantized. Three states:
//   full precision (no quantizer, or precision unset): y = x W^T + b
//   training: fake-quantized to c bits and sliced to the selected r, straight-through gradients,
//             scales from MinMax (QAT) or learnable clipping (OmniQuant)
//   frozen:   a NestedCodes store (or MXINT codes, Matryoshka MXINT); the weight is the
//             dequantized r-bit slice (cached per r)
// Independently, the input may be fake-quantized before the matmul (seed 004's A8 rows).
// Switching the precision switches which model the same object serves.
#include "quant/activation_quant.h"
#include "quant/learnable_clipping.h"
#include "quant/mx_format.h"
#include "quant/nested_codes.h"

#include <torch/nn/module.h>

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace matquant::model {

struct QuantizerConfig {
  int source_bits = 8;  // c
  int64_t group_size = 0;
  bool learnable_clipping = false;
  quant::SliceMode slice_mode = quant::SliceMode::kClamped;
  // > 0: MXINT codes of source_bits-bit elements in blocks of this many input columns, instead of
  // the affine grid (post-training bases only; sliced to r bits under the shared exponents).
  int64_t mx_block_size = 0;
};

class QuantizedLinearImpl : public torch::nn::Module {
 public:
  QuantizedLinearImpl(int64_t in_features, int64_t out_features, bool bias);

  at::Tensor forward(const at::Tensor& x);
  // The master-weight quantizer key ({0, 0, 0, 0} plain, else {group size, c, r, extra precision})
  // when forward would take kernels::master_linear / quantized_master_linear and do nothing else
  // (no input recording or observer, no stash being recorded): project_jointly's condition.
  std::optional<std::array<int64_t, 4>> joint_master_projection() const;

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
  // MXINT codes (quantizer.mx_block_size > 0), loaded in place of a NestedCodes store.
  void load_mx_codes(quant::MxCodes codes);
  const std::optional<quant::MxCodes>& mx_codes() const { return mx_codes_; }
  bool frozen() const { return codes_.has_value() || mx_codes_.has_value(); }
  // Frees the weight's storage, the codes and the dequantized cache once packed copies serve this
  // layer (model::Generator's slice packs); returns the bytes freed. A forward pass afterwards is
  // an internal error.
  int64_t release_for_packed_serving();
  bool released() const { return released_; }
  // Inputs are fake-quantized by `quantizer` before the matmul while set; input observers and
  // absmax recording still see the unquantized input (they calibrate it).
  void set_activation_quantizer(std::optional<quant::ActivationQuantizer> quantizer);
  const std::optional<quant::ActivationQuantizer>& activation_quantizer() const { return activation_quantizer_; }
  // A transformed weight (and bias) served in place of `weight`/`bias` until cleared, and
  // quantized like it: the learnable equivalent transformation's W' = s * W during calibration
  // (as OmniQuant's temp_weight). Gradients flow from the output into whatever built it.
  void set_weight_override(at::Tensor weight, at::Tensor bias);
  void clear_weight_override();
  bool has_weight_override() const { return weight_override_.defined(); }
  // While on, forward keeps the running per-input-channel max |x| (SmoothQuant statistics that
  // initialize the equivalent transformation's scales). Turning it on clears what was kept.
  void record_input_absmax(bool on);
  const at::Tensor& input_absmax() const { return input_absmax_; }  // [in] fp32, or undefined
  // Called with every input while set (calibration statistics, e.g. GPTQ's Hessian); {} removes it.
  void set_input_observer(std::function<void(const at::Tensor&)> observer) { input_observer_ = std::move(observer); }

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  quant::LearnableClipping clipping{nullptr};

 private:
  bool plain_master_weight_path() const;
  std::optional<QuantizerConfig> quantizer_;
  std::optional<int> precision_;
  std::optional<quant::NestedCodes> codes_;
  std::optional<quant::MxCodes> mx_codes_;
  std::optional<quant::ActivationQuantizer> activation_quantizer_;
  std::map<int, at::Tensor> dequantized_cache_;
  at::Tensor weight_override_, bias_override_;
  bool recording_input_ = false;
  bool released_ = false;
  at::Tensor input_absmax_;
  std::function<void(const at::Tensor&)> input_observer_;
};
TORCH_MODULE(QuantizedLinear);

// Several projections of one input (q, k and v; gate and up): one kernels::master_linears node when
// every one takes the master-weight path (their input's gradient summed by the matmuls), else each
// projection's forward. Outputs in the order given.
std::vector<at::Tensor> project_jointly(const at::Tensor& x, const std::vector<QuantizedLinearImpl*>& projections);

}  // namespace matquant::model
