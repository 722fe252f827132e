#include "kernels/master_weight_ops.h"

#include "kernels/aten_launch.h"
#include "kernels/fused_ops.h"
#include "kernels/launchers.h"
#include "kernels/projection_stash.h"

#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <tuple>
#include <optional>
#include <string>
#include <vector>

namespace matquant::kernels {

namespace {
std::atomic<bool>& switched_on() {
  static std::atomic<bool> on(on_unless_zero("MATQUANT_MASTER_GRADIENTS"));
  return on;
}
}  // namespace

bool set_master_weight_ops(bool on) { return switched_on().exchange(on); }

bool master_weight_training(const at::Tensor& weight) {
  return switched_on().load() && fused_kernels_enabled(weight) && weight.scalar_type() == at::kFloat && weight.is_leaf() &&
         weight.requires_grad() && at::GradMode::is_enabled() && at::autocast::is_autocast_enabled(at::kCUDA) &&
         at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor as_rows(const at::Tensor& t) { return t.reshape({-1, t.size(-1)}); }

// weight.grad (+)= grad_y^T @ x in fp32 straight from the bf16 operands: one matmul whose epilogue
// reads and writes the master gradient (beta = 1), no bf16 gradient, no separate add.
void add_matmul_to_master_grad(const at::Tensor& weight, const at::Tensor& grad_y, const at::Tensor& x) {
  const at::Tensor g = as_rows(grad_y).t();
  const at::Tensor a = as_rows(x);
  at::Tensor& master = weight.mutable_grad();
  if (master.defined()) {
    at::addmm_out(master, master, g, a, at::kFloat);
  } else {
    master = at::mm(g, a, at::kFloat);
  }
}

at::Tensor to_bf16(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? t : t.to(at::kBFloat16); }

// The bf16 copy of a projection input, made once for all the projections that read it: q, k and v
// read one norm output, gate and up another, and autocast casts it again for each (a quarter of a
// step's launches were such casts, 7.4 ms per 2B step with their adjoints). The last cast is kept
// with a weak reference to its source, so a freed tensor's address cannot alias it, and the source's
// version counter, data pointer and shape, so an in-place change invalidates it. One cache per thread
// (checkpointing recomputes in the autograd thread); each keeps its last cast alive until the next.
at::Tensor shared_bf16_input(const at::Tensor& x) {
  if (x.scalar_type() == at::kBFloat16) return x;
  // Inference tensors have no version counter, and a cast made in inference mode must not be served
  // outside it.
  if (x.is_inference() || c10::InferenceMode::is_enabled()) return x.to(at::kBFloat16);
  using WeakImpl = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;
  struct LastCast {
    std::optional<WeakImpl> source;
    uint32_t version = 0;
    const void* data = nullptr;
    at::Tensor cast;
  };
  // Never destroyed: a CUDA tensor must not be freed by thread-exit destructors after CUDA shut down.
  thread_local LastCast* last = new LastCast;
  if (last->source && last->source->lock().get() == x.unsafeGetTensorImpl() && last->version == x._version() &&
      last->data == x.data_ptr() && last->cast.sizes() == x.sizes()) {
    return last->cast;
  }
  last->cast = x.to(at::kBFloat16);
  last->source.emplace(x.getIntrusivePtr());
  last->version = x._version();
  last->data = x.data_ptr();
  return last->cast;
}

// dX = dY @ W16 when autograd wants it. For fp32 inputs (autocast over fp32 activations) the matmul
// writes fp32 directly: no bf16 rounding and no separate cast kernel (autocast's adjoint rounds to
// bf16 and then casts), so the gradient is closer to exact than the composed path's.
at::Tensor input_gradient(AutogradContext* ctx, const at::Tensor& grad_y, const at::Tensor& w16) {
  if (!ctx->needs_input_grad(0)) return at::Tensor();
  const auto x_dtype = ctx->saved_data["x_dtype"].toScalarType();
  if (x_dtype != at::kFloat) return at::matmul(grad_y, w16).to(x_dtype);
  std::vector<int64_t> sizes = grad_y.sizes().vec();
  sizes.back() = w16.size(1);
  return at::mm(as_rows(grad_y), w16, at::kFloat).view(sizes);
}

// The quantizer key of a projection without fake quantization (a stash entry with no weight).
constexpr ProjectionQuantizer kPlainProjection{0, 0, 0, 0};

// Q(weight) written directly in bf16 by the fake-quant kernel (fp32 maths, one rounding to bf16:
// what fake_quantize_minmax's fp32 output cast by autocast gives), with its per-row scale and zero,
// and per row whether every code lies inside the clamp (the backward's weight reads skipped).
struct Bf16FakeQuant {
  at::Tensor w16, scale, zero, inside;
  int64_t cols = 0;
};

// A first pass of a selectively checkpointed block (kernels/projection_stash.h) keeps the
// projection's output and, quantized, its bf16 weight for the recomputation.
void stash_projection(const at::Tensor& x, const at::Tensor& weight, const ProjectionQuantizer& quantizer,
                      const at::Tensor& y, const Bf16FakeQuant& q) {
  ProjectionStash* stash = recording_projection_stash();
  if (!stash || y.is_view()) return;
  StashedProjection entry;
  entry.weight = weight.unsafeGetTensorImpl();
  entry.weight_version = weight._version();
  entry.quantizer = quantizer;
  entry.input_sizes = x.sizes().vec();
  entry.output = y;
  entry.output_version = y._version();
  entry.w16 = q.w16;
  entry.scale = q.scale;
  entry.zero = q.zero;
  entry.inside = q.inside;
  stash->put(std::move(entry));
}

struct MasterLinear : public torch::autograd::Function<MasterLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const at::Tensor x16 = shared_bf16_input(x);
    // Through autocast's weight cache, as at::linear would: the step's autocast scope spans the three
    // precisions, so each plain weight is cast once per step. Recorded with gradients on, so the
    // cached copy is the one a composed at::linear in the same scope would have made.
    at::Tensor w16;
    {
      const at::AutoGradMode grad_on(true);
      w16 = at::autocast::cached_cast(at::kBFloat16, weight, c10::DeviceType::CUDA);
    }
    ctx->save_for_backward({x16, w16.detach(), weight});
    ctx->saved_data["x_dtype"] = x.scalar_type();
    // A selectively checkpointed block's recomputation: the first pass's output.
    if (ProjectionStash* stash = replaying_projection_stash()) {
      if (auto kept = stash->take(weight, kPlainProjection, x)) {
        count_projection_stash_hit();
        return kept->output;
      }
    }
    return at::linear(x16, w16);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor grad_y = to_bf16(grads[0]);
    const at::Tensor grad_x = input_gradient(ctx, grad_y, saved[1]);
    add_matmul_to_master_grad(saved[2], grad_y, saved[0]);
    return {grad_x, at::Tensor()};
  }
};

// The ranges a WeightRangeScope keeps: per weight (and group size and source bits), the first
// precision's scale, zero point and clamp flags, with what identifies the weight's values.
struct KeptRange {
  std::optional<c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>> source;
  int64_t version = 0;
  const void* data = nullptr;
  std::vector<int64_t> sizes;
  int64_t epoch = 0;
  at::Tensor scale, zero, inside;
};
struct WeightRanges {
  std::mutex mutex;
  int depth = 0;
  std::map<std::tuple<const c10::TensorImpl*, int64_t, int64_t>, KeptRange> kept;
  std::atomic<int64_t> reuses{0};
  std::atomic<int64_t> epoch{0};
};
WeightRanges& weight_ranges() {
  static auto* ranges = new WeightRanges;  // never destroyed: it may hold CUDA tensors at exit
  return *ranges;
}

Bf16FakeQuant fake_quantize_to_bf16(const at::Tensor& weight, int64_t group_size, int64_t source_bits,
                                    int64_t target_bits, bool extra_precision) {
  Bf16FakeQuant out;
  out.cols = group_size > 0 ? group_size : weight.size(1);
  const int64_t rows = weight.numel() / out.cols;
  out.w16 = at::empty(weight.sizes(), weight.options().dtype(at::kBFloat16));
  WeightRanges& ranges = weight_ranges();
  const int64_t epoch = ranges.epoch.load();  // before the range is computed: a change after it retires it
  const auto key = std::make_tuple(weight.unsafeGetTensorImpl(), group_size, source_bits);
  bool given = false;
  {
    const std::lock_guard<std::mutex> lock(ranges.mutex);
    if (ranges.depth > 0 && !weight.is_inference()) {
      auto it = ranges.kept.find(key);
      if (it != ranges.kept.end() && it->second.source->lock().get() == weight.unsafeGetTensorImpl() &&
          it->second.version == int64_t(weight._version()) && it->second.data == weight.data_ptr() &&
          it->second.sizes == weight.sizes().vec() && it->second.epoch == epoch) {
        out.scale = it->second.scale;
        out.zero = it->second.zero;
        out.inside = it->second.inside;
        given = true;
      }
    }
  }
  if (!given) {
    out.scale = at::empty({rows}, weight.options());
    out.zero = at::empty({rows}, weight.options());
    out.inside = at::empty({rows}, weight.options().dtype(at::kInt));
  }
  check_launch(launch_fake_quantize_forward(Dtype::kFloat32, Dtype::kBFloat16, weight.data_ptr(), out.w16.data_ptr(),
                                            out.scale.data_ptr<float>(), out.zero.data_ptr<float>(), rows, out.cols,
                                            int(source_bits), int(target_bits), extra_precision, stream_of(weight),
                                            out.inside.data_ptr<int32_t>(), given),
               "fake_quantize (bf16 out)");
  if (given) {
    ranges.reuses.fetch_add(1);
    return out;
  }
  const std::lock_guard<std::mutex> lock(ranges.mutex);
  if (ranges.depth > 0 && !weight.is_inference()) {
    KeptRange& kept = ranges.kept[key];
    kept.source.emplace(weight.getIntrusivePtr());
    kept.version = int64_t(weight._version());
    kept.data = weight.data_ptr();
    kept.sizes = weight.sizes().vec();
    kept.epoch = epoch;
    kept.scale = out.scale;
    kept.zero = out.zero;
    kept.inside = out.inside;
  }
  return out;
}

}  // namespace

// MATQUANT_SHARED_WEIGHT_RANGES=0 makes scopes keep nothing (benchmarks measure both in one build).
bool weight_ranges_shared() {
  static const bool on = on_unless_zero("MATQUANT_SHARED_WEIGHT_RANGES");
  return on;
}

void note_weights_changed() { weight_ranges().epoch.fetch_add(1); }

WeightRangeScope::WeightRangeScope() {
  if (!weight_ranges_shared()) return;
  const std::lock_guard<std::mutex> lock(weight_ranges().mutex);
  ++weight_ranges().depth;
}

WeightRangeScope::~WeightRangeScope() {
  if (!weight_ranges_shared()) return;
  WeightRanges& ranges = weight_ranges();
  const std::lock_guard<std::mutex> lock(ranges.mutex);
  if (--ranges.depth == 0) ranges.kept.clear();
}

int64_t weight_range_reuses() { return weight_ranges().reuses.load(); }

namespace {

struct QuantizedMasterLinear : public torch::autograd::Function<QuantizedMasterLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight_in, int64_t group_size,
                            int64_t source_bits, int64_t target_bits, bool extra_precision) {
    const c10::cuda::CUDAGuard guard(weight_in.device());
    const at::Tensor x16 = shared_bf16_input(x);
    ctx->saved_data["x_dtype"] = x.scalar_type();
    ctx->saved_data["source_bits"] = source_bits;
    // A selectively checkpointed block's recomputation: the first pass's weight and output.
    if (ProjectionStash* stash = replaying_projection_stash()) {
      if (auto kept = stash->take(weight_in, {group_size, source_bits, target_bits, extra_precision}, x)) {
        count_projection_stash_hit();
        ctx->save_for_backward({x16, kept->w16, weight_in, kept->scale, kept->zero, kept->inside});
        ctx->saved_data["cols"] = weight_in.numel() / kept->scale.numel();
        return kept->output;
      }
    }
    const at::Tensor weight = weight_in.contiguous();
    const Bf16FakeQuant q = fake_quantize_to_bf16(weight, group_size, source_bits, target_bits, extra_precision);
    ctx->save_for_backward({x16, q.w16, weight_in, q.scale, q.zero, q.inside});
    ctx->saved_data["cols"] = q.cols;
    return at::linear(x16, q.w16);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[2];
    const c10::cuda::CUDAGuard guard(weight.device());
    const at::Tensor grad_y = to_bf16(grads[0]);
    const at::Tensor grad_x = input_gradient(ctx, grad_y, saved[1]);
    // The bf16 weight gradient autocast's linear would produce, then mask, cast and accumulate at once.
    const at::Tensor grad_w16 = at::mm(as_rows(grad_y).t(), as_rows(saved[0])).contiguous();
    at::Tensor& master = weight.mutable_grad();
    const bool accumulate = master.defined();
    if (!accumulate) master = at::empty(weight.sizes(), weight.options());
    const int64_t cols = ctx->saved_data["cols"].toInt();
    if (!weight.is_contiguous() || !master.is_contiguous()) {
      throw Error(ErrorCode::kInternal, "quantized_master_linear: weight and its gradient must be contiguous");
    }
    check_launch(launch_fake_quantize_accumulate(grad_w16.data_ptr(), weight.data_ptr<float>(),
                                                 saved[3].data_ptr<float>(), saved[4].data_ptr<float>(),
                                                 master.data_ptr<float>(), weight.numel() / cols, cols,
                                                 int(ctx->saved_data["source_bits"].toInt()), accumulate,
                                                 stream_of(weight), saved[5].data_ptr<int32_t>()),
                 "fake_quantize accumulate");
    return {grad_x, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct MasterEmbedding : public torch::autograd::Function<MasterEmbedding> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& weight, const at::Tensor& ids) {
    ctx->save_for_backward({weight, ids});
    return at::embedding(weight, ids);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];
    at::Tensor& master = weight.mutable_grad();
    if (!master.defined()) master = at::zeros_like(weight);
    // Accumulating index_put_ sorts the indices on CUDA, so repeated tokens add in a fixed order.
    master.index_put_({saved[1].reshape({-1})}, as_rows(grads[0]).to(at::kFloat), /*accumulate=*/true);
    return {at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor master_linear(const at::Tensor& x, const at::Tensor& weight) { return MasterLinear::apply(x, weight); }

at::Tensor quantized_master_linear(const at::Tensor& x, const at::Tensor& weight, int64_t group_size,
                                   int source_bits, int target_bits, bool extra_precision) {
  if (weight.dim() != 2 || (group_size > 0 && weight.size(1) % group_size != 0)) {
    throw Error(ErrorCode::kInternal, "quantized_master_linear: 2-D weight whose columns the group size divides");
  }
  return QuantizedMasterLinear::apply(x, weight, group_size, int64_t(source_bits), int64_t(target_bits),
                                      extra_precision);
}

at::Tensor master_embedding(const at::Tensor& weight, const at::Tensor& ids) {
  return MasterEmbedding::apply(weight, ids);
}

bool autocast_forward_only(const at::Tensor& weight) {
  return switched_on().load() && fused_kernels_enabled(weight) && weight.scalar_type() == at::kFloat &&
         !at::GradMode::is_enabled() && at::autocast::is_autocast_enabled(at::kCUDA) &&
         at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
}

at::Tensor autocast_linear_forward(const at::Tensor& x, const at::Tensor& weight) {
  // The weight through autocast's cache, as at::linear would take it.
  at::Tensor y =
      at::linear(shared_bf16_input(x), at::autocast::cached_cast(at::kBFloat16, weight, c10::DeviceType::CUDA));
  stash_projection(x, weight, kPlainProjection, y, {});
  return y;
}

at::Tensor autocast_quantized_linear_forward(const at::Tensor& x, const at::Tensor& weight, int64_t group_size,
                                             int source_bits, int target_bits, bool extra_precision) {
  if (weight.dim() != 2 || (group_size > 0 && weight.size(1) % group_size != 0)) {
    throw Error(ErrorCode::kInternal, "autocast_quantized_linear_forward: 2-D weight whose columns the group size divides");
  }
  const c10::cuda::CUDAGuard guard(weight.device());
  const Bf16FakeQuant q =
      fake_quantize_to_bf16(weight.contiguous(), group_size, source_bits, target_bits, extra_precision);
  at::Tensor y = at::linear(shared_bf16_input(x), q.w16);
  stash_projection(x, weight, {group_size, source_bits, target_bits, extra_precision}, y, q);
  return y;
}

at::Tensor training_linear(const at::Tensor& x, const at::Tensor& weight) {
  return master_weight_training(weight) ? master_linear(x, weight) : at::linear(x, weight);
}

}  // namespace matquant::kernels
