#pragma once
// Rotary position embeddings as transformers computes them (modeling_rope_utils.py): inverse
// frequencies in fp32, optionally rescaled (linear, llama3), cos/sin of [B, T, head_dim].
#include "model/config.h"

#include <ATen/ATen.h>

namespace matquant::model {

at::Tensor rope_inverse_frequencies(const RopeConfig& rope, int64_t head_dim, const at::Device& device);

struct RopeTables {
  at::Tensor cos;  // [B or 1, T, head_dim] in the activation dtype
  at::Tensor sin;
};
RopeTables rope_tables(const at::Tensor& inverse_frequencies, const at::Tensor& positions,
                       at::ScalarType dtype);

// x: [B, heads, T, head_dim]. for_autocast_matmul: the result only feeds matmuls under CUDA
// autocast; when autocast to bf16 is on there and the fused kernel applies, it comes out already
// cast to bf16 (the same values those matmuls would cast it to; no cast kernels either way).
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables, bool for_autocast_matmul = false);

}  // namespace matquant::model
