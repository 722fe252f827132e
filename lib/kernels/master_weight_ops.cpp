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

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
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
// A kernel that writes the source can offer its bf16 copy in advance (offer_bf16_input).
using WeakImpl = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;
struct LastCast {
  std::optional<WeakImpl> source;
  uint32_t version = 0;
  const void* data = nullptr;
  at::Tensor cast;
  bool offered = false;
};
LastCast& last_cast() {
  // Never destroyed: a CUDA tensor must not be freed by thread-exit destructors after CUDA shut down.
  thread_local LastCast* last = new LastCast;
  return *last;
}
std::atomic<int64_t>& offers_taken() {
  static std::atomic<int64_t> taken{0};
  return taken;
}
void keep_cast(const at::Tensor& x, const at::Tensor& cast, bool offered) {
  LastCast& last = last_cast();
  last.cast = cast;
  last.source.emplace(x.getIntrusivePtr());
  last.version = x._version();
  last.data = x.data_ptr();
  last.offered = offered;
}

at::Tensor shared_bf16_input(const at::Tensor& x) {
  if (x.scalar_type() == at::kBFloat16) return x;
  // Inference tensors have no version counter, and a cast made in inference mode must not be served
  // outside it.
  if (x.is_inference() || c10::InferenceMode::is_enabled()) return x.to(at::kBFloat16);
  LastCast& last = last_cast();
  if (last.source && last.source->lock().get() == x.unsafeGetTensorImpl() && last.version == x._version() &&
      last.data == x.data_ptr() && last.cast.sizes() == x.sizes()) {
    if (last.offered) {
      offers_taken().fetch_add(1);
      last.offered = false;  // counted once per offer
    }
    return last.cast;
  }
  keep_cast(x, x.to(at::kBFloat16), /*offered=*/false);
  return last.cast;
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

// A plain weight's bf16 copy through autocast's weight cache, as at::linear would take it: the step's
// autocast scope spans the three precisions, so each plain weight is cast once per step. Made with
// gradients on, so the cached copy is the one a composed at::linear in the same scope would have made.
at::Tensor autocast_weight(const at::Tensor& weight) {
  const at::AutoGradMode grad_on(true);
  return at::autocast::cached_cast(at::kBFloat16, weight, c10::DeviceType::CUDA);
}

struct MasterLinear : public torch::autograd::Function<MasterLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const at::Tensor x16 = shared_bf16_input(x);
    const at::Tensor w16 = autocast_weight(weight);
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
  // The other precisions' bf16 weights, written by the first precision's pass (target bits -> weight),
  // each handed out once.
  bool extra_precision = false;
  std::map<int64_t, at::Tensor> prepared;
};
struct WeightRanges {
  std::mutex mutex;
  int depth = 0;
  std::vector<int> prepared_bits;  // the precisions the open scopes' step will ask for
  std::map<std::tuple<const c10::TensorImpl*, int64_t, int64_t>, KeptRange> kept;
  std::atomic<int64_t> reuses{0};
  std::atomic<int64_t> prepared_takes{0};
  std::atomic<int64_t> epoch{0};
};
WeightRanges& weight_ranges() {
  static auto* ranges = new WeightRanges;  // never destroyed: it may hold CUDA tensors at exit
  return *ranges;
}

// The precisions other than target_bits that a fake-quant pass of this weight should write too.
std::vector<int> other_prepared_bits(const WeightRanges& ranges, int64_t cols, int64_t source_bits,
                                     int64_t target_bits) {
  std::vector<int> others;
  // Only a pass of one of the step's own precisions prepares the others (a pass for any other
  // precision, say an evaluation inside the scope, would leave copies nobody takes).
  const auto& named = ranges.prepared_bits;
  if (!fake_quantize_forward_many_supported(cols) || std::find(named.begin(), named.end(), target_bits) == named.end()) {
    return others;
  }
  for (int bits : ranges.prepared_bits) {
    if (bits != target_bits && bits >= 1 && bits <= source_bits &&
        std::find(others.begin(), others.end(), bits) == others.end() && int(others.size()) + 1 < kMaxManyOutputs) {
      others.push_back(bits);
    }
  }
  return others;
}

Bf16FakeQuant fake_quantize_to_bf16(const at::Tensor& weight, int64_t group_size, int64_t source_bits,
                                    int64_t target_bits, bool extra_precision) {
  Bf16FakeQuant out;
  out.cols = group_size > 0 ? group_size : weight.size(1);
  const int64_t rows = weight.numel() / out.cols;
  WeightRanges& ranges = weight_ranges();
  const int64_t epoch = ranges.epoch.load();  // before the range is computed: a change after it retires it
  const auto key = std::make_tuple(weight.unsafeGetTensorImpl(), group_size, source_bits);
  bool given = false;
  std::vector<int> others;
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
        auto ready = it->second.prepared.find(target_bits);
        if (ready != it->second.prepared.end() && it->second.extra_precision == extra_precision) {
          out.w16 = std::move(ready->second);
          it->second.prepared.erase(ready);
          ranges.reuses.fetch_add(1);
          ranges.prepared_takes.fetch_add(1);
          return out;
        }
      }
      if (!given && reinterpret_cast<uintptr_t>(weight.data_ptr()) % 16 == 0) {
        others = other_prepared_bits(ranges, out.cols, source_bits, target_bits);
      }
    }
  }
  out.w16 = at::empty(weight.sizes(), weight.options().dtype(at::kBFloat16));
  if (!given) {
    out.scale = at::empty({rows}, weight.options());
    out.zero = at::empty({rows}, weight.options());
    out.inside = at::empty({rows}, weight.options().dtype(at::kInt));
  }
  std::map<int64_t, at::Tensor> prepared;
  if (!others.empty()) {
    ManyBf16Outputs outs;
    outs.out[0] = out.w16.data_ptr();
    outs.target_bits[0] = int(target_bits);
    outs.count = 1;
    for (int bits : others) {
      at::Tensor& w16 = prepared[bits] = at::empty(weight.sizes(), weight.options().dtype(at::kBFloat16));
      outs.out[outs.count] = w16.data_ptr();
      outs.target_bits[outs.count++] = bits;
    }
    check_launch(launch_fake_quantize_forward_many(weight.data_ptr<float>(), outs, out.scale.data_ptr<float>(),
                                                   out.zero.data_ptr<float>(), out.inside.data_ptr<int32_t>(), rows,
                                                   out.cols, int(source_bits), extra_precision, stream_of(weight)),
                 "fake_quantize (several precisions, bf16 out)");
  } else {
    check_launch(launch_fake_quantize_forward(Dtype::kFloat32, Dtype::kBFloat16, weight.data_ptr(), out.w16.data_ptr(),
                                              out.scale.data_ptr<float>(), out.zero.data_ptr<float>(), rows, out.cols,
                                              int(source_bits), int(target_bits), extra_precision, stream_of(weight),
                                              out.inside.data_ptr<int32_t>(), given),
                 "fake_quantize (bf16 out)");
  }
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
    kept.extra_precision = extra_precision;
    kept.prepared = std::move(prepared);
  }
  return out;
}

}  // namespace

// MATQUANT_SHARED_WEIGHT_RANGES=0 makes scopes keep nothing (benchmarks measure both in one build).
bool weight_ranges_shared() {
  static const bool on = on_unless_zero("MATQUANT_SHARED_WEIGHT_RANGES");
  return on;
}

void note_weights_changed() {
  WeightRanges& ranges = weight_ranges();
  ranges.epoch.fetch_add(1);
  // Weights written in advance from the old values would never be taken: free them now.
  const std::lock_guard<std::mutex> lock(ranges.mutex);
  for (auto& [key, kept] : ranges.kept) kept.prepared.clear();
}

WeightRangeScope::WeightRangeScope() : WeightRangeScope(std::vector<int>{}) {}

WeightRangeScope::WeightRangeScope(std::vector<int> prepared_bits) {
  if (!weight_ranges_shared()) return;
  WeightRanges& ranges = weight_ranges();
  const std::lock_guard<std::mutex> lock(ranges.mutex);
  ++ranges.depth;
  if (!prepared_bits.empty() && precisions_prepared_together()) {
    saved_prepared_bits_ = ranges.prepared_bits;
    ranges.prepared_bits = std::move(prepared_bits);
    sets_prepared_bits_ = true;
  }
}

WeightRangeScope::~WeightRangeScope() {
  if (!weight_ranges_shared()) return;
  WeightRanges& ranges = weight_ranges();
  const std::lock_guard<std::mutex> lock(ranges.mutex);
  if (sets_prepared_bits_) {
    // This scope's step is over: copies it prepared and nobody took are freed now, not at the outer
    // scope's end.
    ranges.prepared_bits = std::move(saved_prepared_bits_);
    for (auto& [key, kept] : ranges.kept) kept.prepared.clear();
  }
  if (--ranges.depth == 0) {
    ranges.kept.clear();
    ranges.prepared_bits.clear();
  }
}

int64_t weight_range_reuses() { return weight_ranges().reuses.load(); }
int64_t prepared_weight_takes() { return weight_ranges().prepared_takes.load(); }

namespace {
std::atomic<bool>& prepared_switch() {
  static std::atomic<bool> on(on_unless_zero("MATQUANT_PREPARED_PRECISIONS"));
  return on;
}
std::atomic<bool>& deferred_switch() {
  static std::atomic<bool> on(on_unless_zero("MATQUANT_DEFERRED_GRADIENTS"));
  return on;
}
}  // namespace

bool precisions_prepared_together() { return prepared_switch().load(); }
bool set_precisions_prepared_together(bool on) { return prepared_switch().exchange(on); }
bool gradients_deferred() { return deferred_switch().load(); }
bool set_gradients_deferred(bool on) { return deferred_switch().exchange(on); }

namespace {

// weight.grad (+)= the straight-through gradients of Q(weight) from bf16 matmul gradients, masked,
// cast and accumulated (in order) in one pass.
void accumulate_straight_through(const at::Tensor& weight, const std::vector<at::Tensor>& grads_w16,
                                 const at::Tensor& scale, const at::Tensor& zero, const at::Tensor& inside,
                                 int64_t cols, int64_t source_bits) {
  const c10::cuda::CUDAGuard guard(weight.device());  // flush() runs on the caller's thread
  at::Tensor& master = weight.mutable_grad();
  const bool accumulate = master.defined();
  if (!accumulate) master = at::empty(weight.sizes(), weight.options());
  if (!weight.is_contiguous() || !master.is_contiguous()) {
    throw Error(ErrorCode::kInternal, "quantized_master_linear: weight and its gradient must be contiguous");
  }
  AccumulatedGradients grads;
  for (const at::Tensor& g : grads_w16) grads.grad[grads.count++] = g.data_ptr();
  check_launch(launch_fake_quantize_accumulate(grads, weight.data_ptr<float>(), scale.data_ptr<float>(),
                                               zero.data_ptr<float>(), master.data_ptr<float>(), weight.numel() / cols,
                                               cols, int(source_bits), accumulate, stream_of(weight),
                                               inside.data_ptr<int32_t>()),
               "fake_quantize accumulate");
}

// A weight's bf16 gradients kept by a DeferredGradientScope until its last precision's arrives.
struct PendingGradient {
  at::Tensor weight, scale, zero, inside;
  int64_t cols = 0, source_bits = 0;
  std::vector<at::Tensor> grads;
  void accumulate() const { accumulate_straight_through(weight, grads, scale, zero, inside, cols, source_bits); }
};
struct DeferredGradients {
  std::mutex mutex;
  int contributions = 0;  // gradients per weight in the open scope's step; 0: none open
  std::map<const c10::TensorImpl*, PendingGradient> pending;
};
DeferredGradients& deferred_gradients() {
  static auto* deferred = new DeferredGradients;  // never destroyed: it may hold CUDA tensors at exit
  return *deferred;
}

// weight.grad (+)= the straight-through gradient of Q(weight) from the bf16 matmul gradient
// grad_y^T @ x16 (autocast's); within a DeferredGradientScope, once all of the step's gradients of
// the weight are there.
void add_straight_through_to_master_grad(const at::Tensor& weight, const at::Tensor& grad_y, const at::Tensor& x16,
                                         const at::Tensor& scale, const at::Tensor& zero, const at::Tensor& inside,
                                         int64_t cols, int64_t source_bits) {
  const at::Tensor grad_w16 = at::mm(as_rows(grad_y).t(), as_rows(x16)).contiguous();
  PendingGradient now{weight, scale, zero, inside, cols, source_bits, {grad_w16}};
  std::optional<PendingGradient> earlier;  // kept for another range: accumulated first, on its own
  {
    DeferredGradients& deferred = deferred_gradients();
    const std::lock_guard<std::mutex> lock(deferred.mutex);
    if (deferred.contributions > 1) {
      auto it = deferred.pending.find(weight.unsafeGetTensorImpl());
      if (it == deferred.pending.end()) {
        deferred.pending.emplace(weight.unsafeGetTensorImpl(), std::move(now));
        return;
      }
      PendingGradient& kept = it->second;
      if (kept.scale.data_ptr() == scale.data_ptr() && kept.cols == cols && kept.source_bits == source_bits) {
        kept.grads.push_back(grad_w16);
        if (int(kept.grads.size()) < std::min(deferred.contributions, kMaxAccumulatedGradients)) return;
        now = std::move(kept);
      } else {
        earlier = std::move(kept);
      }
      deferred.pending.erase(it);
    }
  }
  if (earlier) earlier->accumulate();
  now.accumulate();
}

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
    add_straight_through_to_master_grad(weight, grad_y, saved[0], saved[3], saved[4], saved[5],
                                        ctx->saved_data["cols"].toInt(), ctx->saved_data["source_bits"].toInt());
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

// master_linears: MasterLinear / QuantizedMasterLinear for several weights reading one x, as one
// node. Saved per weight: w16, weight, and (quantized) scale, zero, inside.
constexpr int kSavedPerWeight = 5;

struct MasterLinears : public torch::autograd::Function<MasterLinears> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList weights,
                               const std::vector<ProjectionQuantizer>& quantizers) {
    const c10::cuda::CUDAGuard guard(x.device());
    ctx->set_materialize_grads(false);  // an unused output adds nothing
    const at::Tensor x16 = shared_bf16_input(x);
    ctx->saved_data["x_dtype"] = x.scalar_type();
    variable_list saved{x16};
    variable_list outputs;
    std::vector<int64_t> cols, source_bits;
    // A selectively checkpointed block's recomputation takes each projection's first-pass output
    // (and quantized weight) from the stash, in the order the first pass put them, as the single ops do.
    ProjectionStash* stash = replaying_projection_stash();
    for (size_t i = 0; i < weights.size(); ++i) {
      const at::Tensor& weight = weights[i];
      const ProjectionQuantizer& q = quantizers[i];
      Bf16FakeQuant w;
      std::optional<StashedProjection> kept = stash ? stash->take(weight, q, x) : std::nullopt;
      if (kept) count_projection_stash_hit();
      if (q[1] == 0) {
        w.w16 = autocast_weight(weight).detach();
      } else if (kept) {
        w = Bf16FakeQuant{kept->w16, kept->scale, kept->zero, kept->inside, weight.numel() / kept->scale.numel()};
      } else {
        w = fake_quantize_to_bf16(weight.contiguous(), q[0], q[1], q[2], q[3] != 0);
      }
      saved.insert(saved.end(), {w.w16, weight, w.scale, w.zero, w.inside});
      cols.push_back(w.cols);
      source_bits.push_back(q[1]);
      outputs.push_back(kept ? kept->output : at::linear(x16, w.w16));
    }
    ctx->save_for_backward(saved);
    ctx->saved_data["cols"] = cols;
    ctx->saved_data["source_bits"] = source_bits;
    return outputs;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x16 = saved[0];
    const c10::cuda::CUDAGuard guard(x16.device());
    const std::vector<int64_t> cols = ctx->saved_data["cols"].toIntVector();
    const std::vector<int64_t> source_bits = ctx->saved_data["source_bits"].toIntVector();
    const auto x_dtype = ctx->saved_data["x_dtype"].toScalarType();
    const bool input_grad = ctx->needs_input_grad(0);
    at::Tensor grad_x;  // [rows, in]: the matmuls add into it (fp32 x) or autograd's sum (bf16 x)
    for (size_t i = 0; i < cols.size(); ++i) {
      if (!grads[i].defined()) continue;
      const at::Tensor* w = &saved[1 + kSavedPerWeight * i];
      const at::Tensor grad_y = to_bf16(grads[i]);
      if (input_grad) {
        if (x_dtype != at::kFloat) {
          const at::Tensor g = at::matmul(as_rows(grad_y), w[0]);
          grad_x = grad_x.defined() ? grad_x + g : g;
        } else if (!grad_x.defined()) {
          grad_x = at::mm(as_rows(grad_y), w[0], at::kFloat);
        } else {
          at::addmm_out(grad_x, grad_x, as_rows(grad_y), w[0], at::kFloat);
        }
      }
      if (source_bits[i] == 0) {
        add_matmul_to_master_grad(w[1], grad_y, x16);
      } else {
        add_straight_through_to_master_grad(w[1], grad_y, x16, w[2], w[3], w[4], cols[i], source_bits[i]);
      }
    }
    variable_list out(2 + cols.size());  // x, each weight, and the quantizers' slot
    if (grad_x.defined()) out[0] = grad_x.to(x_dtype).view(x16.sizes());
    return out;
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

std::vector<at::Tensor> master_linears(const at::Tensor& x, const std::vector<at::Tensor>& weights,
                                       const std::vector<ProjectionQuantizer>& quantizers) {
  if (weights.empty() || weights.size() != quantizers.size()) {
    throw Error(ErrorCode::kInternal, "master_linears: one quantizer per weight, at least one weight");
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    const int64_t group_size = quantizers[i][0];
    if (weights[i].dim() != 2 || weights[i].size(1) != x.size(-1) ||
        (group_size > 0 && weights[i].size(1) % group_size != 0)) {
      throw Error(ErrorCode::kInternal, "master_linears: 2-D weights over x's width whose columns the group size divides");
    }
  }
  return MasterLinears::apply(x, at::TensorList(weights), quantizers);
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

DeferredGradientScope::DeferredGradientScope(int contributions) {
  if (contributions < 2 || !gradients_deferred()) return;
  DeferredGradients& deferred = deferred_gradients();
  const std::lock_guard<std::mutex> lock(deferred.mutex);
  if (deferred.contributions > 0) return;  // an outer scope's step: it flushes
  deferred.contributions = contributions;
  open_ = true;
  exceptions_at_open_ = std::uncaught_exceptions();
}

void DeferredGradientScope::flush() {
  if (!open_) return;
  std::map<const c10::TensorImpl*, PendingGradient> pending;
  {
    DeferredGradients& deferred = deferred_gradients();
    const std::lock_guard<std::mutex> lock(deferred.mutex);
    pending.swap(deferred.pending);
  }
  for (const auto& [impl, kept] : pending) kept.accumulate();
}

DeferredGradientScope::~DeferredGradientScope() {
  if (!open_) return;
  if (std::uncaught_exceptions() == exceptions_at_open_) {
    // Closed without an exception but not flushed (a caller's early return): add what is kept rather
    // than lose it. A failure here cannot be thrown from a destructor; it is reported instead.
    try {
      flush();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "matquant: deferred weight gradients could not be added: %s\n", e.what());
    }
  }
  DeferredGradients& deferred = deferred_gradients();
  const std::lock_guard<std::mutex> lock(deferred.mutex);
  deferred.contributions = 0;
  deferred.pending.clear();  // unwinding: the step was abandoned by an exception
}

bool wants_bf16_input_copy(const at::Tensor& x) {
  return switched_on().load() && fused_kernels_enabled(x) && x.scalar_type() == at::kFloat && x.is_cuda() &&
         !x.is_inference() && !c10::InferenceMode::is_enabled() && at::autocast::is_autocast_enabled(at::kCUDA) &&
         at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
}

void offer_bf16_input(const at::Tensor& x, const at::Tensor& cast) {
  if (x.is_inference() || c10::InferenceMode::is_enabled()) return;
  keep_cast(x, cast, /*offered=*/true);
}

int64_t offered_bf16_inputs_taken() { return offers_taken().load(); }

}  // namespace matquant::kernels
