#include "model/attention.h"

#include "kernels/fused_ops.h"

#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>

#include <limits>

namespace matquant::model {

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                  const ModelConfig& config) {
  const int64_t b = q.size(0), heads = q.size(1), t = q.size(2), d = q.size(3);
  const int64_t kv_heads = k.size(1), keys = k.size(2);
  const int64_t repeat = heads / kv_heads;
  // Scoring, evaluation and prefill (no gradient, at least one query tile): one kernel, no scores in
  // memory. A decode step (a handful of queries) stays on the batched matmuls, which spread its few
  // rows over the whole GPU.
  if (config.attn_logit_softcapping && t >= 64 && kernels::softcapped_attention_applies(q, k, v)) {
    return kernels::softcapped_attention(q, k, v, mask, config.attention_scale, *config.attn_logit_softcapping);
  }
  // The same in a no-grad pass under bf16 autocast when q and k arrive in fp32 (the fused RoPE
  // emits them in bf16 there; its composed form, with fp32 rotary tables, does not). The matmuls
  // below would cast them to bf16 (autocast), so the kernel takes them cast.
  if (config.attn_logit_softcapping && t >= 64 && !at::GradMode::is_enabled() && q.scalar_type() == at::kFloat &&
      q.is_cuda() && at::autocast::is_autocast_enabled(at::kCUDA) &&
      at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16) {
    const at::Tensor q16 = q.to(at::kBFloat16), k16 = k.to(at::kBFloat16), v16 = v.to(at::kBFloat16);
    if (kernels::softcapped_attention_applies(q16, k16, v16)) {
      return kernels::softcapped_attention(q16, k16, v16, mask, config.attention_scale,
                                           *config.attn_logit_softcapping);
    }
  }
  // Training (a full pass with gradients): the matmuls and softmax below without their layout copies.
  if (config.attn_logit_softcapping && at::GradMode::is_enabled() &&
      kernels::softcapped_attention_core_applies(q, k, v)) {
    return kernels::softcapped_attention_core(q, k, v, mask, config.attention_scale, *config.attn_logit_softcapping);
  }
  // Square scores (a full forward pass) and cached steps (Tq < Tk, the mask's key axis offset) alike:
  // tests/unit/model/test_fused_kernels.cpp checks both against the eager form below on a GPU.
  if (config.attn_logit_softcapping && kernels::fused_kernels_enabled(q)) {
    // Query heads grouped under their key/value head ([b, kv, repeat * t, d]) so one batched matmul
    // serves grouped-query attention without repeating K and V; scale, cap, mask and softmax in
    // one kernel.
    const at::Tensor scores = at::matmul(q.reshape({b, kv_heads, repeat * t, d}), k.transpose(-1, -2));
    const at::Tensor probs = kernels::softcapped_softmax(scores.view({b, heads, t, keys}), mask, config.attention_scale,
                                                         *config.attn_logit_softcapping);
    return at::matmul(probs.view({b, kv_heads, repeat * t, keys}), v).view({b, heads, t, d});
  }
  if (config.attn_logit_softcapping) {
    const double cap = *config.attn_logit_softcapping;
    at::Tensor scores = at::matmul(q, k.repeat_interleave(repeat, 1).transpose(-1, -2)) * config.attention_scale;
    scores = at::tanh(scores / cap) * cap;
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
    return at::matmul(at::softmax(scores, -1, at::kFloat).to(q.scalar_type()), v.repeat_interleave(repeat, 1));
  }
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, config.attention_scale,
                                          /*enable_gqa=*/kv_heads != heads);
}

}  // namespace matquant::model
