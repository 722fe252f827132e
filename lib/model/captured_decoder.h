#pragma once
// Decoding replayed from a CUDA graph (`matquant generate --cuda-graph`): after the prompt runs
// eagerly (Generator::step), its cache is copied into a static one (Generator::static_cache) and one
// Generator::step_static is captured; each token is then one graph launch instead of the few hundred
// ATen launches an eager step issues from the host, which bound small batches' decode speed.
#include "kernels/captured_work.h"
#include "model/generation.h"

namespace matquant::model {

// The graph holds the addresses of everything the step touched: the weights, the packs and the
// precision served when it was captured. Changing the generator (set_precision, pack_slices,
// release_packed_projections) while a CapturedDecoder lives leaves it replaying the old state; make
// a new one per request, as `matquant generate` does.
class CapturedDecoder {
 public:
  // `prompt`: the cache of the prompt run by generator.step; `capacity`: the most positions the
  // request will hold (prompt plus new tokens). Captures on the model's CUDA device.
  CapturedDecoder(Generator& generator, const KvCache& prompt, int64_t capacity);

  // Logits [B, vocab] (fp32) of `token` [B, 1] (long, on the model's device) at the next position.
  // The result is the graph's output tensor, overwritten by the next call: read it first.
  const at::Tensor& step(const at::Tensor& token);

  int64_t length() const { return length_; }  // positions the cache holds
  double capture_seconds() const { return capture_seconds_; }
  // The kernels one step launches, by name (kernels::CapturedWork::kernel_census).
  const std::map<std::string, int>& kernel_census() const { return graph_.kernel_census(); }

 private:
  StaticKvCache cache_;
  at::Tensor token_;   // the graph's input [B, 1]
  at::Tensor logits_;  // the graph's output [B, vocab]
  int64_t length_ = 0;
  double capture_seconds_ = 0.0;
  kernels::CapturedWork graph_;
};

}  // namespace matquant::model
