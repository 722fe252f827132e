#pragma once
// GPTQ (Frantar et al. 2022; seed 004 Section 2.1 and Appendix B.1) on one weight W [out, in]: the
// columns are rounded in order, and each rounded unit's error is spread over the columns not yet
// rounded through the upper Cholesky factor U of (H + damp I)^-1, H = 2 X^T X / n the Hessian of
// ||W X - Q X||^2. Updates are "lazy": inside a block of b1 columns at once, to the rest of the
// matrix once per block. Rows are independent given H, so weights that share an input (q/k/v,
// gate/up) are quantized as one stacked matrix.
//
// What the columns are rounded to is a GptqGrid: an affine INTc grid whose c-bit codes serve every
// sliced precision r (MatQuant's Eq. 6/8) with the error of the lambda-weighted slices propagated
// (a nested GPTQ; plain GPTQ is the grid with one precision r = c), or an MXINT grid, rounded a
// micro-block of b columns at a time because the b values share one scale (seed 004 Algorithm 1).
#include "quant/mx_format.h"
#include "quant/nested_codes.h"

#include <optional>
#include <vector>

namespace matquant::quant {

struct GptqConfig {
  int64_t block_size = 128;       // b1: columns between two updates of the rest of the matrix
  double dampening = 0.01;        // damp = dampening * mean(diag H), GPTQ's percdamp
  bool activation_order = false;  // columns in order of decreasing diag(H) ("act order")
};

// Accumulates H = 2/n sum x x^T over the rows x of every batch added (n = rows added so far).
class HessianAccumulator {
 public:
  void add(const at::Tensor& inputs);  // [..., in]; kept in float32 on the inputs' device
  const at::Tensor& hessian() const { return hessian_; }  // undefined before the first add
  int64_t rows() const { return rows_; }

 private:
  at::Tensor hessian_;
  int64_t rows_ = 0;
};

// The values GPTQ rounds to. quantize() receives `width` columns of the current (error-updated)
// weight, whose original indices are `columns`, and returns the values whose error is propagated.
class GptqGrid {
 public:
  virtual ~GptqGrid() = default;
  virtual int64_t unit() const = 0;  // columns rounded together (1, or the MX block size)
  // Whether columns may be visited in activation order (a grid whose scales come from the weight
  // before GPTQ may; one that takes a scale from contiguous current columns may not).
  virtual bool allows_reordering() const = 0;
  virtual at::Tensor quantize(const at::Tensor& values, const at::Tensor& columns) = 0;
  // A whole lazy block in one go (unit 1), where the grid has a fused kernel for w1's device: w1
  // [out, width] is updated in place, q1 and err1 receive the rounded values and the errors.
  // Returns false to take the column loop instead (the reference path).
  virtual bool quantize_block(at::Tensor& /*w1*/, const at::Tensor& /*u1*/, const at::Tensor& /*columns*/,
                              at::Tensor& /*q1*/, at::Tensor& /*err1*/) {
    return false;
  }
};

struct GptqResult {
  at::Tensor quantized;        // float32 [out, in]: what the grid returned, in original column order
  double loss = 0.0;           // sum of GPTQ's per-column losses (w - q)^2 / U_jj^2, halved
  bool hessian_fallback = false;  // H + damp I was not positive definite: rounded to nearest instead
};

// The weight is not modified. hessian: float [in, in], or undefined for round to nearest (no error
// is propagated and nothing is factorised; activation order then has no order to follow).
GptqResult gptq_quantize(const at::Tensor& weight, const at::Tensor& hessian, GptqGrid& grid,
                         const GptqConfig& config);

// Affine c-bit codes (Eq. 1) with scales and zero points from MinMax over the weight before GPTQ
// (per channel or per group; as llm-compressor's observers compute them before GPTQ runs), or the
// ones given. Each column's code minimises sum_r lambda_r (w - dequant(S(q, r)))^2 over all 2^c
// codes; with a single r = c that is round to nearest, i.e. plain GPTQ.
class NestedAffineGrid : public GptqGrid {
 public:
  NestedAffineGrid(const at::Tensor& weight, int source_bits, int64_t group_size, std::vector<int> bits,
                   std::vector<double> lambdas, SliceMode mode, const std::optional<AffineParams>& params = std::nullopt);
  int64_t unit() const override { return 1; }
  bool allows_reordering() const override { return true; }
  at::Tensor quantize(const at::Tensor& values, const at::Tensor& columns) override;
  // On CUDA: lib/kernels/gptq_block.cu (plain: the same arithmetic and codes as quantize(); nested:
  // the same optimum, float32 near-ties aside).
  bool quantize_block(at::Tensor& w1, const at::Tensor& u1, const at::Tensor& columns, at::Tensor& q1,
                      at::Tensor& err1) override;
  // The codes of every column quantized so far (all of them after gptq_quantize).
  NestedCodes codes() const;

 private:
  NestedCodes store_;
  at::Tensor level_values_;  // [|R|, 2^c]: S(q, r) in c-bit units for every code q
  at::Tensor weights_;       // [|R|] lambda_r / sum lambda
  std::vector<int> bits_;
  std::vector<double> normalised_lambdas_;
  SliceMode mode_ = SliceMode::kClamped;
  bool plain_ = false;       // a single r = c: round to nearest
};

// MXINTd-b codes, the shared exponent of each block taken from the block's current values as
// seed 004's Algorithm 1 does (Line 12). With several precisions (Matryoshka MXINT: d = 8 sliced
// under the shared exponent) each value takes, of the codes that round exactly to its nearest
// point of each r-bit grid, the one minimising sum_r lambda_r (w - dequant(slice(k, r)))^2.
class NestedMxGrid : public GptqGrid {
 public:
  NestedMxGrid(int64_t out_features, int64_t in_features, MxFormat format, std::vector<int> bits,
               std::vector<double> lambdas);
  int64_t unit() const override { return format_.block_size; }
  bool allows_reordering() const override { return false; }
  at::Tensor quantize(const at::Tensor& values, const at::Tensor& columns) override;
  MxCodes codes() const;

 private:
  MxFormat format_;
  std::vector<int> bits_;
  std::vector<double> weights_;
  at::Tensor codes_, exponents_;
};

}  // namespace matquant::quant
