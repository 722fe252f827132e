#include "kernels/fused_ops.h"

#include "common/error.h"
#include "kernels/aten_launch.h"
#include "kernels/launchers.h"
#include "kernels/master_weight_ops.h"

#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/autograd.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <string>

namespace matquant::kernels {

bool fused_kernels_compiled() { return true; }

namespace {
std::atomic<bool>& switched_on() {
  static std::atomic<bool> on(on_unless_zero("MATQUANT_FUSED_KERNELS"));
  return on;
}
}  // namespace

bool fused_kernels_enabled(const at::Tensor& tensor) {
  return switched_on().load() && tensor.defined() && tensor.is_cuda() &&
         (tensor.scalar_type() == at::kFloat || tensor.scalar_type() == at::kBFloat16);
}

bool set_fused_kernels(bool on) { return switched_on().exchange(on); }

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Dtype dtype_of(const at::Tensor& t) {
  if (t.scalar_type() == at::kBFloat16) return Dtype::kBFloat16;
  if (t.scalar_type() == at::kFloat) return Dtype::kFloat32;
  throw Error(ErrorCode::kInternal, std::string("fused kernels take float or bfloat16, got ") +
                                        c10::toString(t.scalar_type()));
}

float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }

// The mask rides outside autograd's tensor inputs (it has no gradient and may be undefined).
struct MaskArgument {
  at::Tensor mask;
};

// A bool attention mask as the kernels read it: [B or 1, H or 1, Tq, Tk] with unit key stride,
// broadcast axes given stride 0. Undefined in, undefined out (no mask).
struct KernelMask {
  at::Tensor mask;
  int64_t batch_stride = 0, head_stride = 0, query_stride = 0;
  const bool* data() const { return mask.defined() ? mask.data_ptr<bool>() : nullptr; }
};
KernelMask kernel_mask(const at::Tensor& mask_in, const at::Device& device, int64_t batch, int64_t heads, int64_t query,
                       int64_t key, const char* op) {
  KernelMask out;
  if (!mask_in.defined()) return out;
  at::Tensor mask = mask_in.to(device, at::kBool);
  if (mask.dim() != 4) throw Error(ErrorCode::kInternal, std::string(op) + ": mask must be 4-D");
  if (mask.stride(3) != 1 || mask.size(3) != key) mask = mask.expand({mask.size(0), mask.size(1), query, key}).contiguous();
  auto stride = [&](int d, int64_t full) {
    if (mask.size(d) == 1) return int64_t(0);
    if (mask.size(d) != full) throw Error(ErrorCode::kInternal, std::string(op) + ": mask does not broadcast");
    return mask.stride(d);
  };
  out.batch_stride = stride(0, batch);
  out.head_stride = stride(1, heads);
  out.query_stride = stride(2, query);
  out.mask = mask;
  return out;
}

// The softcapped softmax kernels over contiguous scores [B, H, Tq, Tk], with the log-sum-exp the
// backward reads (SoftcappedSoftmax and SoftcappedAttentionCore).
struct SoftmaxResult {
  at::Tensor probs, lse;
};
SoftmaxResult softmax_forward(const at::Tensor& scores, const at::Tensor& mask_in, double scale, double cap) {
  const int64_t key = scores.size(-1), query = scores.size(-2), heads = scores.size(-3);
  const int64_t batch = scores.numel() / (key * query * heads);
  const KernelMask mask = kernel_mask(mask_in, scores.device(), batch, heads, query, key, "softcapped_softmax");
  const SoftmaxShape shape{batch, heads, query, key, mask.batch_stride, mask.head_stride, mask.query_stride};
  SoftmaxResult out{at::empty_like(scores), at::empty({batch * heads * query}, scores.options().dtype(at::kFloat))};
  check_launch(launch_softcapped_softmax_forward(dtype_of(scores), scores.data_ptr(), mask.data(), out.probs.data_ptr(),
                                                 f32(out.lse), shape, float(scale), float(cap), stream_of(scores)),
               "softcapped_softmax");
  return out;
}
at::Tensor softmax_backward(const at::Tensor& grad_probs, const at::Tensor& probs, const at::Tensor& lse, double scale,
                            double cap) {
  const at::Tensor grad = grad_probs.to(probs.scalar_type()).contiguous();
  at::Tensor grad_scores = at::empty_like(probs);
  const int64_t cols = probs.size(-1);
  check_launch(launch_softcapped_softmax_backward(dtype_of(probs), grad.data_ptr(), probs.data_ptr(), f32(lse),
                                                  grad_scores.data_ptr(), probs.numel() / cols, cols, float(scale),
                                                  float(cap), stream_of(probs)),
               "softcapped_softmax backward");
  return grad_scores;
}

struct SoftcappedSoftmax : public torch::autograd::Function<SoftcappedSoftmax> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& scores_in, const MaskArgument& mask_argument,
                            double scale, double cap) {
    const c10::cuda::CUDAGuard guard(scores_in.device());
    const SoftmaxResult result = softmax_forward(scores_in.contiguous(), mask_argument.mask, scale, cap);
    ctx->save_for_backward({result.probs, result.lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["cap"] = cap;
    return result.probs;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const c10::cuda::CUDAGuard guard(saved[0].device());
    return {softmax_backward(grads[0], saved[0], saved[1], ctx->saved_data["scale"].toDouble(),
                             ctx->saved_data["cap"].toDouble()),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Gemma-2's attention with gradients, as the composed form (grouped-query matmuls around
// softcapped_softmax) computes it, minus its layout copies. v is read in the projection's own
// [B, T, KVH, D] layout, the output is written straight into [B, T, H, D] (what o_proj reads, one
// matmul per query head of a group), and v's gradient goes back in v's layout. One copy is left:
// the output's gradient into the grouped layout, for the two matmuls that reduce over a group's
// query heads in fp32 at once. B is looped over (v's batch and head strides do not merge).
struct SoftcappedAttentionCore : public torch::autograd::Function<SoftcappedAttentionCore> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const MaskArgument& mask_argument, double scale, double cap) {
    const c10::cuda::CUDAGuard guard(q.device());
    const int64_t b = q.size(0), heads = q.size(1), t = q.size(2), d = q.size(3);
    const int64_t kv = k.size(1), keys = k.size(2), repeat = heads / kv;
    const at::Tensor scores = at::matmul(q.view({b, kv, repeat * t, d}), k.transpose(-1, -2));
    const SoftmaxResult p = softmax_forward(scores.view({b, heads, t, keys}), mask_argument.mask, scale, cap);
    at::Tensor out = at::empty({b, t, heads, d}, q.options());
    for (int64_t i = 0; i < b; ++i) {
      const at::Tensor probs = p.probs[i].view({kv, repeat, t, keys});
      const at::Tensor rows = out[i].view({t, kv, repeat, d});
      for (int64_t r = 0; r < repeat; ++r) {
        at::Tensor rows_r = rows.select(2, r).transpose(0, 1);  // [kv, t, d], row stride H * D
        at::bmm_out(rows_r, probs.select(1, r), v[i]);
      }
    }
    ctx->save_for_backward({q, k, v, p.probs, p.lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["cap"] = cap;
    return out.transpose(1, 2);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const c10::cuda::CUDAGuard guard(q.device());
    const int64_t b = q.size(0), heads = q.size(1), t = q.size(2), d = q.size(3);
    const int64_t kv = k.size(1), keys = k.size(2), repeat = heads / kv;
    const at::Tensor grad_out = grads[0].to(q.scalar_type()).contiguous().view({b, kv, repeat * t, d});
    const at::Tensor grouped_probs = probs.view({b, kv, repeat * t, keys});
    at::Tensor grad_probs = at::empty_like(grouped_probs);
    at::Tensor grad_v = v.is_non_overlapping_and_dense() ? at::empty_strided(v.sizes(), v.strides(), v.options())
                                                         : at::empty_like(v, at::MemoryFormat::Contiguous);
    for (int64_t i = 0; i < b; ++i) {
      at::Tensor grad_probs_i = grad_probs[i];
      at::bmm_out(grad_probs_i, grad_out[i], v[i].transpose(1, 2));
      at::Tensor grad_v_i = grad_v[i];
      at::bmm_out(grad_v_i, grouped_probs[i].transpose(1, 2), grad_out[i]);
    }
    const at::Tensor grad_scores =
        softmax_backward(grad_probs.view({b, heads, t, keys}), probs, saved[4], ctx->saved_data["scale"].toDouble(),
                         ctx->saved_data["cap"].toDouble())
            .view({b, kv, repeat * t, keys});
    const at::Tensor grad_q = at::matmul(grad_scores, k).view({b, heads, t, d});
    const at::Tensor grad_k = at::matmul(grad_scores.transpose(-1, -2), q.view({b, kv, repeat * t, d}));
    return {grad_q, grad_k, grad_v, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct SoftcappedCrossEntropy : public torch::autograd::Function<SoftcappedCrossEntropy> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits_in, const at::Tensor& targets_in, double cap,
                            int64_t ignore_index) {
    const c10::cuda::CUDAGuard guard(logits_in.device());
    const at::Tensor logits = logits_in.contiguous();
    const at::Tensor targets = targets_in.to(logits.device(), at::kLong).contiguous();
    const int64_t rows = logits.size(0), vocab = logits.size(1);
    at::Tensor loss = at::empty({rows}, logits.options().dtype(at::kFloat));
    at::Tensor lse = at::empty({rows}, logits.options().dtype(at::kFloat));
    check_launch(launch_softcapped_cross_entropy_forward(dtype_of(logits), logits.data_ptr(),
                                                         targets.data_ptr<int64_t>(), f32(loss), f32(lse), rows, vocab,
                                                         float(cap), ignore_index, stream_of(logits)),
                 "softcapped_cross_entropy");
    ctx->save_for_backward({logits, targets, lse});
    ctx->saved_data["cap"] = cap;
    ctx->saved_data["ignore_index"] = ignore_index;
    return loss;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& logits = saved[0];
    const c10::cuda::CUDAGuard guard(logits.device());
    const at::Tensor grad = grads[0].to(at::kFloat).contiguous();
    at::Tensor grad_logits = at::empty_like(logits);
    check_launch(launch_softcapped_cross_entropy_backward(
                     dtype_of(logits), logits.data_ptr(), saved[1].data_ptr<int64_t>(), f32(saved[2]), f32(grad),
                     grad_logits.data_ptr(), logits.size(0), logits.size(1), float(ctx->saved_data["cap"].toDouble()),
                     ctx->saved_data["ignore_index"].toInt(), stream_of(logits)),
                 "softcapped_cross_entropy backward");
    return {grad_logits, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct RmsNorm : public torch::autograd::Function<RmsNorm> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& weight_in, double eps,
                            bool adds_one) {
    const c10::cuda::CUDAGuard guard(x_in.device());
    const at::Tensor x = x_in.contiguous();
    const at::Tensor weight = weight_in.contiguous();
    const int64_t width = x.size(-1), rows = x.numel() / width;
    at::Tensor y = at::empty_like(x);
    at::Tensor rstd = at::empty({rows}, x.options().dtype(at::kFloat));
    // An fp32 norm output that bf16-autocast projections will read: its bf16 copy is written in the
    // same pass and offered to them, instead of a cast kernel that reads y again (159 per 2B step).
    const at::Tensor y16 = wants_bf16_input_copy(x) ? at::empty_like(x, x.options().dtype(at::kBFloat16)) : at::Tensor();
    check_launch(launch_rms_norm_forward(dtype_of(x), dtype_of(weight), x.data_ptr(), weight.data_ptr(), y.data_ptr(),
                                         f32(rstd), rows, width, float(eps), adds_one, stream_of(x),
                                         y16.defined() ? y16.data_ptr() : nullptr),
                 "rms_norm");
    if (y16.defined()) offer_bf16_input(y, y16);
    ctx->save_for_backward({x, weight, rstd});
    ctx->saved_data["adds_one"] = adds_one;
    return y;
  }
  // dx (plus `added`, another gradient of x, when defined) and dw from the saved x, weight and rstd.
  static variable_list backward_adding(AutogradContext* ctx, const at::Tensor& grad_y, const at::Tensor& added) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor grad = grad_y.to(x.scalar_type()).contiguous();
    const at::Tensor other = added.defined() ? added.to(x.scalar_type()).contiguous() : at::Tensor();
    const int64_t width = x.size(-1), rows = x.numel() / width;
    at::Tensor grad_x = at::empty_like(x);
    at::Tensor grad_weight = at::empty_like(weight);
    at::Tensor partials = at::empty({rms_norm_backward_blocks(rows), width}, x.options().dtype(at::kFloat));
    check_launch(launch_rms_norm_backward(dtype_of(x), dtype_of(weight), grad.data_ptr(), x.data_ptr(),
                                          weight.data_ptr(), f32(saved[2]), grad_x.data_ptr(), grad_weight.data_ptr(),
                                          f32(partials), rows,
                                          width, ctx->saved_data["adds_one"].toBool(), stream_of(x), false,
                                          other.defined() ? other.data_ptr() : nullptr),
                 "rms_norm backward");
    return {grad_x, grad_weight, at::Tensor(), at::Tensor()};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return backward_adding(ctx, grads[0], at::Tensor());
  }
};

// rms_norm_passing: the norm and x itself as a second output, for the residual path. Autograd would
// sum the gradients of x's two readers in a separate full-size add; here the norm's backward kernel
// adds the residual path's gradient as it writes dx.
struct RmsNormPassing : public torch::autograd::Function<RmsNormPassing> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& weight_in, double eps,
                               bool adds_one) {
    ctx->set_materialize_grads(false);  // an unused output's gradient stays undefined, not zeros
    const at::Tensor y = RmsNorm::forward(ctx, x_in, weight_in, eps, adds_one);
    return {y, x_in};  // an unmodified input comes back as a view of it, with this node's history
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {grads[1], at::Tensor(), at::Tensor(), at::Tensor()};
    return RmsNorm::backward_adding(ctx, grads[0], grads[1]);
  }
};

struct RmsNormAdd : public torch::autograd::Function<RmsNormAdd> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& branch,
                            const at::Tensor& weight, double eps, bool adds_one) {
    const c10::cuda::CUDAGuard guard(h.device());
    const int64_t width = branch.size(-1), rows = branch.numel() / width;
    at::Tensor hidden = at::empty_like(h);
    at::Tensor rstd = at::empty({rows}, branch.options().dtype(at::kFloat));
    check_launch(launch_rms_norm_add(dtype_of(branch), dtype_of(weight), dtype_of(h), h.data_ptr(), branch.data_ptr(),
                                     weight.data_ptr(), hidden.data_ptr(), f32(rstd), rows, width, float(eps),
                                     adds_one, stream_of(h)),
                 "rms_norm_add");
    ctx->save_for_backward({branch, weight, rstd});
    ctx->saved_data["adds_one"] = adds_one;
    ctx->saved_data["h_dtype"] = h.scalar_type();
    return hidden;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& branch = saved[0];
    const at::Tensor& weight = saved[1];
    const c10::cuda::CUDAGuard guard(branch.device());
    const at::Tensor grad = grads[0].to(ctx->saved_data["h_dtype"].toScalarType()).contiguous();
    const int64_t width = branch.size(-1), rows = branch.numel() / width;
    at::Tensor grad_branch = at::empty_like(branch);
    at::Tensor grad_weight = at::empty_like(weight);
    at::Tensor partials = at::empty({rms_norm_backward_blocks(rows), width}, branch.options().dtype(at::kFloat));
    const bool fp32_grad = grad.scalar_type() != branch.scalar_type();  // rms_norm_add_applies: then fp32
    check_launch(launch_rms_norm_backward(dtype_of(branch), dtype_of(weight), grad.data_ptr(), branch.data_ptr(),
                                          weight.data_ptr(), f32(saved[2]), grad_branch.data_ptr(),
                                          grad_weight.data_ptr(), f32(partials), rows,
                                          width, ctx->saved_data["adds_one"].toBool(), stream_of(grad), fp32_grad),
                 "rms_norm_add backward");
    return {grad, grad_branch, grad_weight, at::Tensor(), at::Tensor()};
  }
};

// A 2-D weight as the fake-quant kernels take it: one kernel row per quantization group.
struct GroupRows {
  int64_t cols, rows;
};
GroupRows group_rows(const at::Tensor& weight, int64_t group_size) {
  const int64_t cols = group_size > 0 ? group_size : weight.size(1);
  return {cols, weight.numel() / cols};
}

struct FakeQuantizeMinMax : public torch::autograd::Function<FakeQuantizeMinMax> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& weight_in, int64_t group_size, int64_t source_bits,
                            int64_t target_bits, bool extra_precision) {
    const c10::cuda::CUDAGuard guard(weight_in.device());
    const at::Tensor weight = weight_in.contiguous();
    const auto [cols, rows] = group_rows(weight, group_size);
    at::Tensor out = at::empty_like(weight);
    at::Tensor scale = at::empty({rows}, weight.options().dtype(at::kFloat));
    at::Tensor zero = at::empty({rows}, weight.options().dtype(at::kFloat));
    check_launch(launch_fake_quantize_forward(dtype_of(weight), dtype_of(weight), weight.data_ptr(), out.data_ptr(), f32(scale), f32(zero),
                                              rows, cols, int(source_bits), int(target_bits), extra_precision,
                                              stream_of(weight)),
                 "fake_quantize");
    ctx->save_for_backward({weight, scale, zero});
    ctx->saved_data["cols"] = cols;
    ctx->saved_data["source_bits"] = source_bits;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];
    const c10::cuda::CUDAGuard guard(weight.device());
    const at::Tensor grad = grads[0].to(weight.scalar_type()).contiguous();
    const int64_t cols = ctx->saved_data["cols"].toInt();
    at::Tensor grad_weight = at::empty_like(weight);
    check_launch(launch_fake_quantize_backward(dtype_of(weight), grad.data_ptr(), weight.data_ptr(), f32(saved[1]),
                                               f32(saved[2]), grad_weight.data_ptr(), weight.numel() / cols, cols,
                                               int(ctx->saved_data["source_bits"].toInt()), stream_of(weight)),
                 "fake_quantize backward");
    return {grad_weight, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct FakeQuantizeClipped : public torch::autograd::Function<FakeQuantizeClipped> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& weight_in, const at::Tensor& upper_logit,
                            const at::Tensor& lower_logit, int64_t group_size, int64_t source_bits, int64_t target_bits,
                            bool extra_precision) {
    const c10::cuda::CUDAGuard guard(weight_in.device());
    const at::Tensor weight = weight_in.contiguous();
    const auto [cols, rows] = group_rows(weight, group_size);
    at::Tensor out = at::empty_like(weight);
    at::Tensor saved = at::empty({rows, 8}, weight.options().dtype(at::kFloat));
    // ATen's own sigmoid, so the forward equals the composition bit for bit.
    const at::Tensor gamma = upper_logit.detach().sigmoid();
    const at::Tensor beta = lower_logit.detach().sigmoid();
    check_launch(launch_clipped_fake_quantize_forward(dtype_of(weight), weight.data_ptr(), f32(gamma),
                                                      f32(beta), out.data_ptr(), f32(saved), rows, cols,
                                                      int(source_bits), int(target_bits), extra_precision,
                                                      stream_of(weight)),
                 "clipped fake_quantize");
    ctx->save_for_backward({weight, saved});
    ctx->saved_data["cols"] = cols;
    ctx->saved_data["source_bits"] = source_bits;
    ctx->saved_data["target_bits"] = target_bits;
    ctx->saved_data["extra_precision"] = extra_precision;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];
    const c10::cuda::CUDAGuard guard(weight.device());
    const at::Tensor grad = grads[0].to(weight.scalar_type()).contiguous();
    const int64_t cols = ctx->saved_data["cols"].toInt();
    const int64_t rows = weight.numel() / cols;
    at::Tensor grad_weight = ctx->needs_input_grad(0) ? at::empty_like(weight) : at::Tensor();
    const auto logit_options = weight.options().dtype(at::kFloat);
    at::Tensor grad_upper = at::empty({rows}, logit_options);
    at::Tensor grad_lower = at::empty({rows}, logit_options);
    check_launch(launch_clipped_fake_quantize_backward(
                     dtype_of(weight), grad.data_ptr(), weight.data_ptr(), f32(saved[1]),
                     grad_weight.defined() ? grad_weight.data_ptr() : nullptr, f32(grad_upper), f32(grad_lower), rows,
                     cols, int(ctx->saved_data["source_bits"].toInt()), int(ctx->saved_data["target_bits"].toInt()),
                     ctx->saved_data["extra_precision"].toBool(), stream_of(weight)),
                 "clipped fake_quantize backward");
    const int64_t groups = rows / weight.size(0);
    return {grad_weight, grad_upper.view({weight.size(0), groups, 1}), grad_lower.view({weight.size(0), groups, 1}),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

RopeShape rope_shape(const at::Tensor& x, const at::Tensor& table) {
  return RopeShape{x.size(0),      x.size(1),      x.size(2),
                   x.size(3),      x.stride(0),    x.stride(1),
                   x.stride(2),    table.size(0) == 1 ? 0 : table.stride(0), table.stride(1)};
}

struct RotaryEmbedding : public torch::autograd::Function<RotaryEmbedding> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& cos_in,
                            const at::Tensor& sin_in, bool bf16_out) {
    const c10::cuda::CUDAGuard guard(x_in.device());
    const at::Tensor x = x_in.stride(3) == 1 ? x_in : x_in.contiguous();
    const at::Tensor cos = cos_in.to(x.device()).contiguous(), sin = sin_in.to(x.device()).contiguous();
    const auto out_dtype = bf16_out ? at::kBFloat16 : at::promote_types(x.scalar_type(), cos.scalar_type());
    at::Tensor out = at::empty(x.sizes(), x.options().dtype(out_dtype));
    check_launch(launch_rope_forward(dtype_of(x), dtype_of(cos), x.data_ptr(), cos.data_ptr(), sin.data_ptr(),
                                     out.data_ptr(), rope_shape(x, cos), stream_of(x), bf16_out),
                 "rotary_embedding");
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["x_dtype"] = x.scalar_type();
    ctx->saved_data["out_dtype"] = out_dtype;
    // The gradient goes back in x's layout when x is a dense permutation (q_proj's [b, t, h, d] output
    // seen as [b, h, t, d]): the projection's backward then reads it without a transposing copy.
    if (x.is_non_overlapping_and_dense()) ctx->saved_data["x_strides"] = x.strides().vec();
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& cos = saved[0];
    const c10::cuda::CUDAGuard guard(cos.device());
    const auto x_dtype = ctx->saved_data["x_dtype"].toScalarType();
    const auto out_dtype = ctx->saved_data["out_dtype"].toScalarType();
    const at::Tensor grad = grads[0].to(out_dtype).contiguous();
    at::Tensor grad_x = ctx->saved_data.count("x_strides")
                            ? at::empty_strided(grad.sizes(), ctx->saved_data["x_strides"].toIntVector(),
                                                grad.options().dtype(x_dtype))
                            : at::empty(grad.sizes(), grad.options().dtype(x_dtype));
    const bool bf16_grad = out_dtype == at::kBFloat16 && at::promote_types(x_dtype, cos.scalar_type()) != at::kBFloat16;
    check_launch(launch_rope_backward(x_dtype == at::kBFloat16 ? Dtype::kBFloat16 : Dtype::kFloat32, dtype_of(cos),
                                      grad.data_ptr(), cos.data_ptr(), saved[1].data_ptr(), grad_x.data_ptr(),
                                      rope_shape(grad_x, cos), stream_of(grad), bf16_grad),
                 "rotary_embedding backward");
    return {grad_x, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct GatedActivation : public torch::autograd::Function<GatedActivation> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate_in, const at::Tensor& up_in, bool gelu) {
    const c10::cuda::CUDAGuard guard(gate_in.device());
    const at::Tensor gate = gate_in.contiguous(), up = up_in.contiguous();
    at::Tensor out = at::empty_like(gate);
    check_launch(launch_gated_activation_forward(dtype_of(gate), gate.data_ptr(), up.data_ptr(), out.data_ptr(),
                                                 gate.numel(), gelu, stream_of(gate)),
                 "gated_activation");
    ctx->save_for_backward({gate, up});
    ctx->saved_data["gelu"] = gelu;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& gate = saved[0];
    const c10::cuda::CUDAGuard guard(gate.device());
    const at::Tensor grad = grads[0].to(gate.scalar_type()).contiguous();
    at::Tensor grad_gate = at::empty_like(gate), grad_up = at::empty_like(gate);
    check_launch(launch_gated_activation_backward(dtype_of(gate), grad.data_ptr(), gate.data_ptr(), saved[1].data_ptr(),
                                                  grad_gate.data_ptr(), grad_up.data_ptr(), gate.numel(),
                                                  ctx->saved_data["gelu"].toBool(), stream_of(gate)),
                 "gated_activation backward");
    return {grad_gate, grad_up, at::Tensor()};
  }
};

}  // namespace

at::Tensor softcapped_softmax(const at::Tensor& scores, const at::Tensor& mask, double scale, double cap) {
  if (scores.dim() != 4) throw Error(ErrorCode::kInternal, "softcapped_softmax: scores must be [B, H, Tq, Tk]");
  return SoftcappedSoftmax::apply(scores, MaskArgument{mask}, scale, cap);
}

bool softcapped_attention_core_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  static const bool on = on_unless_zero("MATQUANT_ATTENTION_CORE");  // off: the composed matmuls (A/B runs)
  if (!on || !fused_kernels_enabled(q) || q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return false;
  if (q.scalar_type() != k.scalar_type() || q.scalar_type() != v.scalar_type() || q.device() != k.device() ||
      q.device() != v.device()) {
    return false;
  }
  // Under autocast the operands must already be in its dtype: the strided bmm_out calls do not cast.
  if (at::autocast::is_autocast_enabled(at::kCUDA) && q.scalar_type() != at::autocast::get_autocast_dtype(at::kCUDA)) {
    return false;
  }
  const int64_t heads = q.size(1), kv = k.size(1);
  return kv > 0 && heads % kv == 0 && q.size(2) > 0 && q.size(0) == k.size(0) && k.sizes() == v.sizes() &&
         q.size(3) == k.size(3) && q.size(2) == k.size(2) && q.is_contiguous() && k.is_contiguous() &&
         v.stride(3) == 1 && v.stride(2) >= v.size(3);
}

at::Tensor softcapped_attention_core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& mask, double scale, double cap) {
  if (!softcapped_attention_core_applies(q, k, v)) {
    throw Error(ErrorCode::kInternal, "softcapped_attention_core: operands softcapped_attention_core_applies refuses");
  }
  return SoftcappedAttentionCore::apply(q, k, v, MaskArgument{mask}, scale, cap);
}

namespace {
std::atomic<bool>& attention_kernel_on() {
  static std::atomic<bool> on(on_unless_zero("MATQUANT_ATTENTION_KERNEL"));
  return on;
}
bool rows_aligned(const at::Tensor& t) {
  return t.stride(3) == 1 && t.stride(0) % 8 == 0 && t.stride(1) % 8 == 0 && t.stride(2) % 8 == 0 &&
         reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0;
}
}  // namespace

bool set_softcapped_attention_kernel(bool on) { return attention_kernel_on().exchange(on); }

bool softcapped_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (!attention_kernel_on().load() || !fused_kernels_enabled(q)) return false;
  if (q.requires_grad() || k.requires_grad() || v.requires_grad()) return false;  // forward only
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || k.sizes() != v.sizes()) return false;
  for (const at::Tensor* t : {&q, &k, &v}) {
    if (t->scalar_type() != at::kBFloat16 || t->device() != q.device() || !rows_aligned(*t)) return false;
  }
  return q.size(0) == k.size(0) && q.size(3) == k.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0 &&
         softcapped_attention_supported(q.size(0), q.size(1), k.size(2), q.size(3), q.get_device());
}

at::Tensor softcapped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask_in,
                                double scale, double cap) {
  if (!softcapped_attention_applies(q, k, v)) {
    throw Error(ErrorCode::kInternal, "softcapped_attention: operands the kernel does not take");
  }
  const c10::cuda::CUDAGuard guard(q.device());
  const int64_t batch = q.size(0), heads = q.size(1), query = q.size(2), d = q.size(3), key = k.size(2);
  const KernelMask mask = kernel_mask(mask_in, q.device(), batch, heads, query, key, "softcapped_attention");
  // Tokens-major output: the caller's transpose back to [B, T, H * D] is then free.
  const at::Tensor out = at::empty({batch, query, heads, d}, q.options()).transpose(1, 2);
  const AttentionShape shape{batch, heads, k.size(1), query, key, d,
                             q.stride(0), q.stride(1), q.stride(2),
                             k.stride(0), k.stride(1), k.stride(2),
                             v.stride(0), v.stride(1), v.stride(2),
                             out.stride(0), out.stride(1), out.stride(2),
                             mask.batch_stride, mask.head_stride, mask.query_stride};
  check_launch(launch_softcapped_attention_forward(q.data_ptr(), k.data_ptr(), v.data_ptr(), mask.data(),
                                                   out.data_ptr(), shape, float(scale), float(cap), stream_of(q)),
               "softcapped_attention");
  return out;
}

bool decode_attention_applies(const at::Tensor& q, const at::Tensor& k_new, const at::Tensor& v_new,
                              const at::Tensor& key_cache, const at::Tensor& value_cache, const at::Tensor& mask) {
  if (!attention_kernel_on().load() || !fused_kernels_enabled(q)) return false;
  for (const at::Tensor* t : {&q, &k_new, &v_new, &key_cache, &value_cache}) {
    if (t->dim() != 4 || t->scalar_type() != at::kBFloat16 || t->device() != q.device() || t->requires_grad() ||
        !rows_aligned(*t)) {
      return false;
    }
  }
  const int64_t batch = q.size(0), d = q.size(3), capacity = key_cache.size(2);
  if (q.size(2) != 1 || k_new.size(2) != 1 || key_cache.sizes() != value_cache.sizes() ||
      k_new.sizes() != v_new.sizes() || k_new.size(0) != batch || key_cache.size(0) != batch ||
      k_new.size(1) != key_cache.size(1) || k_new.size(3) != d || key_cache.size(3) != d ||
      capacity < 1 || capacity > kDecodeAttentionMaxCapacity) {
    return false;
  }
  // Blocks write the caches and read them back: each (row, head) slice must be its own memory.
  if (!key_cache.is_contiguous() || !value_cache.is_contiguous() ||
      key_cache.storage().is_alias_of(value_cache.storage())) {
    return false;
  }
  if (mask.defined() &&
      (mask.scalar_type() != at::kBool || mask.dim() != 4 || mask.size(1) != 1 || mask.size(2) != 1 ||
       mask.size(3) != capacity || (mask.size(0) != 1 && mask.size(0) != batch))) {
    return false;
  }
  return decode_attention_supported(batch, q.size(1), key_cache.size(1), d);
}

bool decode_attention_rotates(const at::Tensor& q, const at::Tensor& rope_cos, const at::Tensor& rope_sin) {
  for (const at::Tensor* t : {&rope_cos, &rope_sin}) {
    if (!t->defined() || t->dim() != 3 || t->scalar_type() != at::kBFloat16 || t->device() != q.device() ||
        (t->size(0) != 1 && t->size(0) != q.size(0)) || t->size(1) != 1 || t->size(2) != q.size(3) ||
        t->stride(2) != 1 || (t->size(0) > 1 && t->stride(0) % 8 != 0) ||
        reinterpret_cast<uintptr_t>(t->data_ptr()) % 16 != 0) {
      return false;
    }
  }
  return rope_cos.sizes() == rope_sin.sizes() && rope_cos.strides() == rope_sin.strides();
}

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_new, const at::Tensor& v_new,
                            const at::Tensor& key_cache, const at::Tensor& value_cache, const at::Tensor& position,
                            const at::Tensor& mask_in, double scale, double cap, const at::Tensor& rope_cos,
                            const at::Tensor& rope_sin) {
  if (!decode_attention_applies(q, k_new, v_new, key_cache, value_cache, mask_in) || position.numel() != 1 ||
      position.scalar_type() != at::kLong || position.device() != q.device()) {
    throw Error(ErrorCode::kInternal, "decode_attention: operands the kernel does not take");
  }
  const bool rotates = rope_cos.defined() || rope_sin.defined();
  if (rotates && !decode_attention_rotates(q, rope_cos, rope_sin)) {
    throw Error(ErrorCode::kInternal, "decode_attention: RoPE tables the kernel does not take");
  }
  const c10::cuda::CUDAGuard guard(q.device());
  const int64_t batch = q.size(0), heads = q.size(1), d = q.size(3), capacity = key_cache.size(2);
  const KernelMask mask = kernel_mask(mask_in, q.device(), batch, 1, 1, capacity, "decode_attention");
  const at::Tensor out = at::empty({batch, 1, heads, d}, q.options()).transpose(1, 2);
  const DecodeAttentionShape shape{batch, heads, key_cache.size(1), capacity, d,
                                   q.stride(0), q.stride(1),
                                   k_new.stride(0), k_new.stride(1),
                                   v_new.stride(0), v_new.stride(1),
                                   key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
                                   value_cache.stride(0), value_cache.stride(1), value_cache.stride(2),
                                   out.stride(0), out.stride(1),
                                   mask.batch_stride,
                                   rotates && rope_cos.size(0) > 1 ? rope_cos.stride(0) : 0};
  check_launch(launch_decode_attention(q.data_ptr(), k_new.data_ptr(), v_new.data_ptr(), key_cache.data_ptr(),
                                       value_cache.data_ptr(), position.data_ptr<int64_t>(), mask.data(),
                                       rotates ? rope_cos.data_ptr() : nullptr, rotates ? rope_sin.data_ptr() : nullptr,
                                       out.data_ptr(), shape, float(scale), float(cap), stream_of(q)),
               "decode_attention");
  return out;
}

at::Tensor softcapped_cross_entropy(const at::Tensor& logits, const at::Tensor& targets, double cap,
                                    int64_t ignore_index) {
  if (logits.dim() != 2 || targets.numel() != logits.size(0)) {
    throw Error(ErrorCode::kInternal, "softcapped_cross_entropy: logits [rows, vocab] and targets [rows]");
  }
  return SoftcappedCrossEntropy::apply(logits, targets.reshape({-1}), cap, ignore_index);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, bool adds_one) {
  if (weight.numel() != x.size(-1) || (!adds_one && weight.scalar_type() != x.scalar_type())) {
    throw Error(ErrorCode::kInternal, "rms_norm: weight must match x's last dimension (and dtype, Llama form)");
  }
  return RmsNorm::apply(x, weight, eps, adds_one);
}

std::pair<at::Tensor, at::Tensor> rms_norm_passing(const at::Tensor& x, const at::Tensor& weight, double eps,
                                                   bool adds_one) {
  if (weight.numel() != x.size(-1) || (!adds_one && weight.scalar_type() != x.scalar_type())) {
    throw Error(ErrorCode::kInternal, "rms_norm_passing: weight must match x's last dimension (and dtype, Llama form)");
  }
  const variable_list out = RmsNormPassing::apply(x, weight, eps, adds_one);
  return {out[0], out[1]};
}

bool residual_rms_norm_applies(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& post_weight,
                               const at::Tensor& next_weight, bool adds_one) {
  if (!fused_kernels_enabled(h) || h.dim() < 1 || !h.sizes().equals(branch.sizes()) ||
      h.scalar_type() != branch.scalar_type() || h.device() != branch.device()) {
    return false;
  }
  if (c10::GradMode::is_enabled() && (h.requires_grad() || branch.requires_grad() ||
                                      (post_weight.defined() && post_weight.requires_grad()) ||
                                      (next_weight.defined() && next_weight.requires_grad()))) {
    return false;
  }
  const int64_t width = h.size(-1);
  if (width <= 0 || h.numel() == 0) return false;
  const auto aligned = [](const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; };
  if (!h.is_contiguous() || !branch.is_contiguous() || !aligned(h) || !aligned(branch)) return false;
  const at::Tensor& any_weight = post_weight.defined() ? post_weight : next_weight;
  if (!any_weight.defined()) return false;  // a plain sum: at::add is as good
  for (const at::Tensor* w : {&post_weight, &next_weight}) {
    if (!w->defined()) continue;
    if (!fused_kernels_enabled(*w) || w->scalar_type() != any_weight.scalar_type() || w->device() != h.device() ||
        w->numel() != width ||
        !w->is_contiguous() || !aligned(*w) || (!adds_one && w->scalar_type() != h.scalar_type())) {
      return false;
    }
  }
  return residual_rms_norm_supported(dtype_of(h), dtype_of(any_weight), width, h.numel() / width);
}

ResidualNormed residual_rms_norm(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& post_weight,
                                 const at::Tensor& next_weight, double eps, bool adds_one) {
  if (!residual_rms_norm_applies(h, branch, post_weight, next_weight, adds_one)) {
    throw Error(ErrorCode::kInternal, "residual_rms_norm: operands residual_rms_norm_applies refuses");
  }
  const c10::cuda::CUDAGuard guard(h.device());
  ResidualNormed out{at::empty_like(h), next_weight.defined() ? at::empty_like(h) : at::Tensor()};
  const int64_t width = h.size(-1);
  const at::Tensor& any_weight = post_weight.defined() ? post_weight : next_weight;
  check_launch(launch_residual_rms_norm(dtype_of(h), dtype_of(any_weight), h.data_ptr(), branch.data_ptr(),
                                        post_weight.defined() ? post_weight.data_ptr() : nullptr,
                                        next_weight.defined() ? next_weight.data_ptr() : nullptr,
                                        out.hidden.data_ptr(), out.normed.defined() ? out.normed.data_ptr() : nullptr,
                                        h.numel() / width, width, float(eps), adds_one, stream_of(h)),
               "residual_rms_norm");
  return out;
}

bool rms_norm_add_applies(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& weight, bool adds_one) {
  if (!weight.defined() || !fused_kernels_enabled(h) || !fused_kernels_enabled(branch) ||
      !fused_kernels_enabled(weight) || h.dim() < 1 || !h.sizes().equals(branch.sizes()) ||
      h.device() != branch.device() || weight.device() != h.device() || h.numel() == 0) {
    return false;
  }
  if (h.scalar_type() != branch.scalar_type() && h.scalar_type() != at::kFloat) return false;
  if (!adds_one && weight.scalar_type() != branch.scalar_type()) return false;  // as norm's own path
  const int64_t width = branch.size(-1);
  const auto aligned = [](const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; };
  if (weight.numel() != width || !h.is_contiguous() || !branch.is_contiguous() || !weight.is_contiguous() ||
      !aligned(h) || !aligned(branch) || !aligned(weight)) {
    return false;
  }
  return rms_norm_add_supported(dtype_of(branch), dtype_of(weight), dtype_of(h), width, h.numel() / width);
}

at::Tensor rms_norm_add(const at::Tensor& h, const at::Tensor& branch, const at::Tensor& weight, double eps,
                        bool adds_one) {
  if (!rms_norm_add_applies(h, branch, weight, adds_one)) {
    throw Error(ErrorCode::kInternal, "rms_norm_add: operands rms_norm_add_applies refuses");
  }
  return RmsNormAdd::apply(h, branch, weight, eps, adds_one);
}

bool rotary_embedding_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return fused_kernels_enabled(x) && fused_kernels_enabled(cos) && x.dim() == 4 && cos.dim() == 3 &&
         x.size(3) % 2 == 0 && cos.size(1) == x.size(2) && cos.size(2) == x.size(3) &&
         (cos.size(0) == 1 || cos.size(0) == x.size(0)) && sin.sizes() == cos.sizes() &&
         sin.scalar_type() == cos.scalar_type() && sin.device() == cos.device();
}

at::Tensor rotary_embedding(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool bf16_out) {
  if (!rotary_embedding_applies(x, cos, sin)) {
    throw Error(ErrorCode::kInternal, "rotary_embedding: x [B, H, T, D] and tables [1 or B, T, D]");
  }
  // The tables carry no gradient here (positions are data), as in the composed form's use.
  return RotaryEmbedding::apply(x, cos.detach(), sin.detach(), bf16_out);
}

at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, bool gelu) {
  if (gate.sizes() != up.sizes() || gate.scalar_type() != up.scalar_type()) {
    throw Error(ErrorCode::kInternal, "gated_activation: gate and up of one shape and dtype");
  }
  return GatedActivation::apply(gate, up, gelu);
}

at::Tensor fake_quantize_minmax(const at::Tensor& weight, int64_t group_size, int source_bits, int target_bits,
                                bool extra_precision) {
  if (weight.dim() != 2 || (group_size > 0 && weight.size(1) % group_size != 0)) {
    throw Error(ErrorCode::kInternal, "fake_quantize_minmax: 2-D weight whose columns the group size divides");
  }
  return FakeQuantizeMinMax::apply(weight, group_size, int64_t(source_bits), int64_t(target_bits), extra_precision);
}

bool fake_quantize_clipped_applies(const at::Tensor& weight, const at::Tensor& upper_logit,
                                   const at::Tensor& lower_logit, int64_t group_size) {
  if (!fused_kernels_enabled(weight) || weight.dim() != 2 || weight.size(0) == 0 || weight.size(1) == 0) return false;
  if (group_size > 0 && weight.size(1) % group_size != 0) return false;
  const auto [cols, rows] = group_rows(weight, group_size);
  if (cols >= (int64_t(1) << 24)) return false;
  auto logit_fits = [&](const at::Tensor& logit) {
    return logit.defined() && logit.scalar_type() == at::kFloat && logit.device() == weight.device() &&
           logit.is_contiguous() && logit.numel() == rows;
  };
  return logit_fits(upper_logit) && logit_fits(lower_logit);
}

at::Tensor fake_quantize_clipped(const at::Tensor& weight, const at::Tensor& upper_logit,
                                 const at::Tensor& lower_logit, int64_t group_size, int source_bits, int target_bits,
                                 bool extra_precision) {
  if (!fake_quantize_clipped_applies(weight, upper_logit, lower_logit, group_size)) {
    throw Error(ErrorCode::kInternal, "fake_quantize_clipped: operands it does not take (see _applies)");
  }
  return FakeQuantizeClipped::apply(weight, upper_logit, lower_logit, group_size, int64_t(source_bits),
                                    int64_t(target_bits), extra_precision);
}

at::Tensor fake_quantize_activations_static(const at::Tensor& x, const at::Tensor& inverse, const at::Tensor& scale,
                                            const at::Tensor& zero_point, int bits) {
  const int64_t channels = x.size(-1);
  if (inverse.numel() != channels || scale.numel() != channels || zero_point.numel() != channels) {
    throw Error(ErrorCode::kInternal, "fake_quantize_activations_static: one parameter per channel");
  }
  const at::Tensor in = x.contiguous();
  at::Tensor out = at::empty_like(in);
  const at::Tensor inv32 = inverse.to(at::kFloat).contiguous(), scale32 = scale.to(at::kFloat).contiguous(),
                   zero32 = zero_point.to(at::kFloat).contiguous();
  check_launch(launch_activation_static_int(dtype_of(in), in.data_ptr(), out.data_ptr(), inv32.data_ptr<float>(),
                                            scale32.data_ptr<float>(), zero32.data_ptr<float>(), in.numel(), channels,
                                            bits, stream_of(in)),
               "activation_static_int");
  return out;
}

at::Tensor fake_quantize_activations_mx(const at::Tensor& x, int element_bits, int64_t block_size) {
  const at::Tensor in = x.contiguous();
  at::Tensor out = at::empty_like(in);
  const int64_t length = in.size(-1);
  check_launch(launch_activation_mx(dtype_of(in), in.data_ptr(), out.data_ptr(), length == 0 ? 0 : in.numel() / length,
                                    length, block_size, element_bits, stream_of(in)),
               "activation_mx");
  return out;
}

namespace {

struct GptqBlockBuffers {
  at::Tensor scale, zero, u, q1, err1, codes1;
};

GptqBlockBuffers gptq_block_buffers(const at::Tensor& w1, const at::Tensor& u1, const at::Tensor& scale,
                                    const at::Tensor& zero, const char* kernel) {
  const bool shapes_ok = w1.dim() == 2 && w1.is_contiguous() && w1.scalar_type() == at::kFloat &&
                         scale.sizes() == w1.sizes() && zero.sizes() == w1.sizes() && u1.dim() == 2 &&
                         u1.size(0) == w1.size(1) && u1.size(1) == w1.size(1) && u1.stride(1) == 1;
  if (!shapes_ok) throw Error(ErrorCode::kInternal, std::string(kernel) + ": unexpected shapes, strides or dtypes");
  return {scale.to(at::kFloat).contiguous(), zero.to(at::kFloat).contiguous(), u1.to(at::kFloat), at::empty_like(w1),
          at::empty_like(w1), at::empty(w1.sizes(), w1.options().dtype(at::kByte))};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> gptq_block_affine(at::Tensor& w1, const at::Tensor& u1,
                                                                 const at::Tensor& scale, const at::Tensor& zero,
                                                                 int max_code) {
  auto b = gptq_block_buffers(w1, u1, scale, zero, "gptq_block_affine");
  check_launch(launch_gptq_block_affine(w1.data_ptr<float>(), b.u.data_ptr<float>(), b.u.stride(0),
                                        b.scale.data_ptr<float>(), b.zero.data_ptr<float>(), b.q1.data_ptr<float>(),
                                        b.err1.data_ptr<float>(), b.codes1.data_ptr<uint8_t>(), w1.size(0),
                                        int(w1.size(1)), max_code, stream_of(w1)),
               "gptq_block_affine");
  return {b.q1, b.err1, b.codes1};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gptq_block_nested(at::Tensor& w1, const at::Tensor& u1,
                                                                 const at::Tensor& scale, const at::Tensor& zero,
                                                                 int source_bits, const std::vector<int>& bits,
                                                                 const std::vector<double>& weights,
                                                                 bool extra_precision) {
  NestedGptqSpec spec;
  if (bits.empty() || bits.size() > 8 || bits.size() != weights.size()) {
    throw Error(ErrorCode::kInternal, "gptq_block_nested: 1 to 8 precisions, one weight each");
  }
  spec.source_bits = source_bits;
  spec.count = int(bits.size());
  spec.extra_precision = extra_precision;
  for (size_t i = 0; i < bits.size(); ++i) {
    spec.bits[i] = bits[i];
    spec.weights[i] = float(weights[i]);
  }
  auto b = gptq_block_buffers(w1, u1, scale, zero, "gptq_block_nested");
  check_launch(launch_gptq_block_nested(w1.data_ptr<float>(), b.u.data_ptr<float>(), b.u.stride(0),
                                        b.scale.data_ptr<float>(), b.zero.data_ptr<float>(), b.q1.data_ptr<float>(),
                                        b.err1.data_ptr<float>(), b.codes1.data_ptr<uint8_t>(), w1.size(0),
                                        int(w1.size(1)), spec, stream_of(w1)),
               "gptq_block_nested");
  return {b.q1, b.err1, b.codes1};
}

}  // namespace matquant::kernels
