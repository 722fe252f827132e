#pragma once
// Mixed-precision training ops for fp32 master weights under bf16 autocast on CUDA, whose weight
// gradients go straight into the master gradient (.grad) instead of through autograd's
// accumulation. MatQuant's step runs the model once per precision, so every weight receives three
// gradients per step; the composed path pays, per weight and precision, a bf16-to-fp32 cast of the
// gradient, a full-size add into .grad and (embeddings) a dense zero-filled table. These ops fold
// all of that into the weight-gradient matmul's epilogue (fp32 output, beta = 1) or into one
// elementwise pass. Megatron-LM calls the same idea gradient-accumulation fusion.
//
// Each op returns no gradient for its weight through autograd: it writes weight.grad() itself
// (allocating it when undefined), so it is only for leaf weights whose gradient nobody reads through
// hooks, in backward passes that want every weight's gradient (an autograd::grad over a subset of
// the inputs would still find the weights' .grad written; no caller does that). Reentrant checkpointing reads .grad after backward; the sharded block, which asks
// torch::autograd::grad for its parameters, adds what the ops wrote into .grad to that answer
// (train/sharded_model.cpp).
#include <ATen/ATen.h>

#include <array>
#include <vector>

namespace matquant::kernels {

// Whether the ops below apply: fused kernels enabled, `weight` an fp32 CUDA leaf that requires
// grad, gradient recording on, and CUDA autocast on with bfloat16. Otherwise callers take at::linear
// / at::embedding (and the effective-weight path), which stay the reference.
bool master_weight_training(const at::Tensor& weight);
// MATQUANT_MASTER_GRADIENTS=0 switches the ops off (benchmarks measure both paths in one build);
// this overrides it for the process and returns the previous setting.
bool set_master_weight_ops(bool on);

// x @ weight^T in bf16 (x cast to bf16, as autocast would, once for all projections reading the
// same x); the weight gradient is computed in fp32 straight into weight.grad. For an fp32 x the
// input gradient is computed in fp32 (autocast's is rounded to bf16, then cast).
at::Tensor master_linear(const at::Tensor& x, const at::Tensor& weight);

// x @ Q(weight)^T, Q = fake_quantize_minmax (the fused kernel, written directly in bf16); its
// straight-through gradient goes into weight.grad in one pass from the bf16 matmul gradient.
// Forward and weight gradient bit-identical to fake_quantize_minmax followed by autocast's
// at::linear; the input gradient as master_linear's.
at::Tensor quantized_master_linear(const at::Tensor& x, const at::Tensor& weight, int64_t group_size,
                                   int source_bits, int target_bits, bool extra_precision);

// Projections of one input x (q, k and v; gate and up) in one autograd node: each output as
// master_linear (quantizer {0, 0, 0, 0}) or quantized_master_linear ({group size, source bits,
// target bits, extra precision}) computes it. For an fp32 x the backward accumulates x's gradient in
// the matmuls' epilogues (beta = 1), where separate nodes' gradients take a full-size add each
// (equal to autograd's sum within fp32 rounding, not bit for bit: the order differs); a bf16 x's
// gradients are added as autograd would. A selectively checkpointed block's recomputation takes
// each member's output from the stash, in order.
std::vector<at::Tensor> master_linears(const at::Tensor& x, const std::vector<at::Tensor>& weights,
                                       const std::vector<std::array<int64_t, 4>>& quantizers);

// at::embedding(weight, ids) whose backward adds the looked-up rows' gradients into weight.grad
// (index_put_ with accumulation) instead of building a dense [vocab, hidden] gradient.
at::Tensor master_embedding(const at::Tensor& weight, const at::Tensor& ids);

// The same projections in forward passes that record no gradient under bf16 autocast over fp32
// weights (activation checkpointing's first pass, OmniQuant's targets): the input cast once for all
// projections reading it, and Q(weight) written directly in bf16 instead of an fp32 fake-quant
// output that autocast then casts. Bit-identical to at::linear under autocast on
// fake_quantize_minmax's output (or the plain weight). autocast_forward_only: ops switched on, fused
// kernels enabled for an fp32 weight, grad mode off, CUDA autocast on with bfloat16.
bool autocast_forward_only(const at::Tensor& weight);
at::Tensor autocast_linear_forward(const at::Tensor& x, const at::Tensor& weight);
at::Tensor autocast_quantized_linear_forward(const at::Tensor& x, const at::Tensor& weight, int64_t group_size,
                                             int source_bits, int target_bits, bool extra_precision);

// While one of these is alive, the fake-quant forward of these ops keeps each weight's per-row
// quantization range (scale, zero point, clamp flags), and a later precision of the same weight
// reuses it instead of reading the fp32 weight once more for its range: MatQuant's precisions share
// the c-bit quantization and differ only in the slice. The trainers open one around a step's
// precision passes, during which the weights do not change. A kept range is also tied to the
// weight's identity, version, data and shape, and to the weights epoch below, since not every
// writer of weights bumps versions (at::_fused_adamw_ does not; set_data neither). Scopes nest; the
// last one to close forgets the ranges. Thread-safe (checkpointing recomputes in autograd's
// threads). MATQUANT_SHARED_WEIGHT_RANGES=0 switches it off.
//
// With prepared_bits (the precisions the step will run, on one stream), the first precision's
// fake-quant pass of a weight also writes the bf16 weights of the others from the same read of the
// fp32 weight, and those precisions take them instead of launching a pass (bit-identical). That
// holds up to prepared_bits.size() bf16 copies of every quantized weight at once (for Gemma-2 2B's
// FFN, 3.3 GB each beyond the first), so only the plain QAT step asks for it: not activation checkpointing
// (which trades that memory away) nor sharded training. MATQUANT_PREPARED_PRECISIONS=0 switches it
// off. On the H200 it is about neutral: the fake-quant passes shrink (9.97 to 8.85 ms per 2B step),
// and the matmuls then read the later precisions' weights from memory instead of from L2
// (docs/performance.md, session 19).
class WeightRangeScope {
 public:
  WeightRangeScope();
  explicit WeightRangeScope(std::vector<int> prepared_bits);
  ~WeightRangeScope();
  WeightRangeScope(const WeightRangeScope&) = delete;
  WeightRangeScope& operator=(const WeightRangeScope&) = delete;

 private:
  bool sets_prepared_bits_ = false;
  std::vector<int> saved_prepared_bits_;
};
// How many fake-quant forwards took a kept range since the process started (tests).
int64_t weight_range_reuses();
// How many of those took a bf16 weight written in advance (prepared_bits) (tests).
int64_t prepared_weight_takes();
// Whether WeightRangeScope(prepared_bits) prepares anything (MATQUANT_PREPARED_PRECISIONS is not "0"),
// and its override for this process (tests), which returns the previous setting.
bool precisions_prepared_together();
bool set_precisions_prepared_together(bool on);
// Whether WeightRangeScope keeps anything (MATQUANT_SHARED_WEIGHT_RANGES is not "0").
bool weight_ranges_shared();
// Starts a new weights epoch: ranges kept before it are not reused after it. Every writer of weights
// outside autograd's in-place ops calls it (the optimizer step, re-gathered shards, loaded checkpoints).
void note_weights_changed();

// While one of these is open with contributions = n > 1 (the backward passes of a step, one per
// precision), quantized projections keep each weight's bf16 weight gradient until the weight's n-th
// arrives, then add all n to weight.grad in one pass (bit-identical to one pass each, in the same
// order): the fp32 master gradient is read and written once per step instead of once per precision.
// That holds up to n - 1 bf16 gradients of every quantized weight (3.3 GB each for Gemma-2 2B's FFN),
// so only the plain QAT step opens one, as for prepared precisions. flush() adds whatever is still
// kept (a weight that received fewer than n) and must be called before weight.grad is read; it runs
// on the caller's current stream, which must be the one the backward passes ran on (as in the
// trainers). A scope closed without flush() flushes then, unless an exception is unwinding the step
// (then it drops what it kept). "The same order" holds among these ops' gradients: a weight that
// also received a gradient through autograd in the same step would have that one added first. Not
// nested: an inner scope does nothing. MATQUANT_DEFERRED_GRADIENTS=0 switches it off;
// set_gradients_deferred overrides that (tests).
class DeferredGradientScope {
 public:
  explicit DeferredGradientScope(int contributions);
  ~DeferredGradientScope();
  DeferredGradientScope(const DeferredGradientScope&) = delete;
  DeferredGradientScope& operator=(const DeferredGradientScope&) = delete;
  void flush();

 private:
  bool open_ = false;
  int exceptions_at_open_ = 0;
};
bool gradients_deferred();
bool set_gradients_deferred(bool on);

// The projections' bf16 input, offered in advance: a kernel that writes an fp32 x that projections
// will read under bf16 autocast (the norms before q, k, v, before gate and up, and before the LM
// head) can write x's bf16 copy in the same pass and offer it. The next projection of exactly this
// x (same tensor, version, data and shape) takes it instead of launching a cast; anything else ignores
// it. wants_bf16_input_copy: those projections would take one (ops switched on, fused kernels
// enabled, fp32 CUDA x, bf16 autocast on, not inference). It cannot see the readers: where none takes
// the copy (projections with a bias, activation quantization, learnable clipping or MX formats read x
// themselves), the copy is written for nothing and the cache keeps the last one alive.
// offered_bf16_inputs_taken counts the offers taken since the process started (tests).
bool wants_bf16_input_copy(const at::Tensor& x);
void offer_bf16_input(const at::Tensor& x, const at::Tensor& cast);
int64_t offered_bf16_inputs_taken();

// master_linear when master_weight_training(weight), else at::linear: the decoder's LM head.
at::Tensor training_linear(const at::Tensor& x, const at::Tensor& weight);

}  // namespace matquant::kernels
