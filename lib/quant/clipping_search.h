#pragma once
// AWQ's weight-clipping search (llm-awq, auto_clip; seed 004 Section 4.1 "AWQ setup"): per
// quantization group, the range shrinks symmetrically to [-m, m] with m = max|w| * (1 - i / 20),
// i = 0 .. 9 (shrinking by up to half), the group's MinMax range is cut to it, and the shrink
// giving the least output error is kept. The output error of a group is d H_gg d^T with d the
// dequantized minus the original weights and H_gg the group's block of the Hessian 2 X^T X / n,
// which is llm-awq's mean squared output error over the calibration tokens without keeping them;
// with several precisions (MatQuant) it is the lambda-weighted sum over the sliced precisions.
#include "quant/minmax.h"
#include "quant/slicing.h"

#include <vector>

namespace matquant::quant {

struct ClippingSearch {
  int grid = 20;            // llm-awq n_grid
  double max_shrink = 0.5;  // llm-awq max_shrink
};

// weight [out, in], hessian [in, in]: the scales and zero points ([out, groups, 1]) of the best
// shrink per group, for codes of source_bits sliced to each of bits.
AffineParams search_clipping(const at::Tensor& weight, const at::Tensor& hessian, int source_bits, int64_t group_size,
                             const std::vector<int>& bits, const std::vector<double>& lambdas, SliceMode mode,
                             const ClippingSearch& search = {});

}  // namespace matquant::quant
