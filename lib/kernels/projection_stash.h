#pragma once
// Selective activation checkpointing (train/activation_checkpoint.h): a checkpointed block's first
// pass, which records no graph, keeps each projection's bf16 output and, for quantized ones, the
// bf16 fake-quantized weight (with the per-row scale and zero the straight-through backward reads)
// in a ProjectionStash; the recomputation in backward takes them back instead of quantizing the
// weight and multiplying again. At the Gemma-2 2B shape that is every projection matmul and all the
// fake quantization of a block, for about 0.22 GiB per block held between the passes
// (docs/training.md). The values taken back are the ones the recomputation would compute (same
// kernels, same inputs), so the gradients do not change.
//
// A stash entry is matched to the projection that asks for it by the weight (its TensorImpl and
// version counter), the quantizer's settings and the input's shape, in call order; an entry whose
// output was written in place since, or a projection with no matching entry, is computed as usual.
#include <ATen/core/ivalue.h>
#include <ATen/Tensor.h>

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace matquant::kernels {

// What identifies a projection call: group size, source bits, target bits, extra precision (all 0
// for a projection without fake quantization).
using ProjectionQuantizer = std::array<int64_t, 4>;

struct StashedProjection {
  const c10::TensorImpl* weight = nullptr;
  uint32_t weight_version = 0;
  ProjectionQuantizer quantizer{};
  std::vector<int64_t> input_sizes;
  at::Tensor output;  // x @ Q(weight)^T (or x @ weight^T) in bf16
  uint32_t output_version = 0;
  // quantized only: Q(weight) in bf16, per-row fp32 scale and zero point, and whether each row's codes
  // all lie inside the clamp (int32; the backward then skips reading the row's weights)
  at::Tensor w16, scale, zero, inside;
};

// Held by a checkpointed block's autograd context (an IValue capsule) from its forward to its backward.
class ProjectionStash : public torch::CustomClassHolder {
 public:
  void put(StashedProjection entry);
  // The oldest entry if it matches this call (and its output is unchanged), removed from the stash.
  std::optional<StashedProjection> take(const at::Tensor& weight, const ProjectionQuantizer& quantizer,
                                        const at::Tensor& input);
  void clear() { entries_.clear(); }

 private:
  std::deque<StashedProjection> entries_;
};

// While alive, this thread's projections record into (kRecord) or take from (kReplay) `stash`.
class ProjectionStashScope {
 public:
  enum class Mode { kRecord, kReplay };
  ProjectionStashScope(ProjectionStash* stash, Mode mode);
  ~ProjectionStashScope();
  ProjectionStashScope(const ProjectionStashScope&) = delete;
  ProjectionStashScope& operator=(const ProjectionStashScope&) = delete;

 private:
  ProjectionStash* previous_record_;
  ProjectionStash* previous_replay_;
};

// This thread's stash being recorded into or replayed from, or null.
ProjectionStash* recording_projection_stash();
ProjectionStash* replaying_projection_stash();

// Projections served from a stash so far in this process (tests check that the stash was used).
int64_t projection_stash_hits();
void count_projection_stash_hit();

}  // namespace matquant::kernels
