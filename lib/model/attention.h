#pragma once
// Scaled dot-product attention of one layer, shared by the full forward pass (DecoderLayerImpl)
// and cached decoding (Generator): q [B, heads, Tq, d]; k, v [B, kv_heads, Tk, d] (grouped-query
// heads, Tk >= Tq with a cache); mask [B or 1, 1, Tq, Tk] bool (true = may attend). Returns
// [B, heads, Tq, d]. Gemma-2's logit softcapping needs the scores themselves: the fused softmax
// kernel on CUDA for square scores, else the eager form transformers runs; other families use
// scaled_dot_product_attention.
#include "model/config.h"

#include <ATen/ATen.h>

namespace matquant::model {

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                  const ModelConfig& config);

}  // namespace matquant::model
