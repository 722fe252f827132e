#pragma once
// SmoothQuant and AWQ as equivalent transformations of one decoder block (seed 004 Sections 2.2-2.3,
// Appendix B.2-B.3), folded into the weights and norms before the block is quantized (by GPTQ or
// round to nearest). Both scale a consumer's input channels by s and its producer's outputs by 1/s
// (train/equivalent_transformation.h: norm -> q/k/v, v -> o, norm -> gate/up, up -> down):
//   SmoothQuant (Eq. 6 of seed 004): s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), alpha = 0.5, from
//     the calibration inputs' per-channel maxima and the consumers' column maxima;
//   AWQ (Lin et al.; llm-awq auto_scale): s = mean|X|^alpha normalised by sqrt(max(s) min(s)), with
//     alpha searched over {0, 1/n, ..., (n-1)/n} (n = 20) for the least block-output error when the
//     pair's consumers are quantized, one pair at a time in block order, each pair keeping its best
//     scale before the next is searched. With several precisions (MatQuant) the error is the
//     lambda-weighted sum over the sliced precisions. AWQ's weight-clipping search runs where the
//     block is quantized (train/gptq_calibration.cpp, quant/clipping_search.h).
#include "model/decoder.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace matquant::train {

enum class Smoothing { kNone, kSmoothQuant, kAwq };
Smoothing parse_smoothing(const std::string& text);  // none | smoothquant | awq

struct SmoothingConfig {
  Smoothing method = Smoothing::kNone;
  double alpha = 0.5;         // SmoothQuant's migration strength
  int64_t grid = 20;          // AWQ's alpha grid
  std::vector<int> bits = {4};
  std::vector<double> lambdas = {1.0};
};

struct SmoothingReport {
  std::map<std::string, double> alpha_by_pair;  // the alpha each pair ended with
  double seconds = 0.0;
};

// inputs: calibration batches of the block's input (on the block's device); run: the block's
// forward. The layer's projections in scope must have MinMax quantizers and no frozen codes; on
// return the transformation is folded (the block computes the same function in full precision).
SmoothingReport smooth_block(model::DecoderLayerImpl& layer, const std::vector<at::Tensor>& inputs,
                             const std::function<at::Tensor(const at::Tensor&)>& run, const SmoothingConfig& config);

}  // namespace matquant::train
