#pragma once
// MatQuant on one linear layer: learn OmniQuant clipping so that the sliced r-bit weights
// reproduce the layer's full-precision outputs, weighting each r by lambda_r (paper Eq. 7 with
// the layer-wise L2 loss of Eq. 5). The OmniQuant trainer applies the same objective per block.
#include "quant/learnable_clipping.h"
#include "quant/slicing.h"

#include <vector>

namespace matquant::quant {

struct ReconstructionConfig {
  int source_bits = 8;               // c
  std::vector<int> bits = {8, 4, 2};  // R
  std::vector<double> lambdas = {1.0, 1.0, 1.0};
  SliceMode mode = SliceMode::kClamped;
  int64_t group_size = 0;
  int steps = 100;
  double learning_rate = 1e-2;  // OmniQuant's clipping learning rate
};

struct ReconstructionResult {
  LearnableClipping clipping{nullptr};
  std::vector<double> losses;  // objective per step
};

// weight: [out, in]; inputs: [n, in]. Throws on mismatched lengths of bits and lambdas.
ReconstructionResult reconstruct_layer(const at::Tensor& weight, const at::Tensor& inputs,
                                       const ReconstructionConfig& config);

// Mean squared output error of the r-bit slice relative to the full-precision output's power.
double relative_output_error(const at::Tensor& weight, const at::Tensor& dequantized,
                             const at::Tensor& inputs);

}  // namespace matquant::quant
