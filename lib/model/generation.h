#pragma once
// Token-by-token decoding with a key/value cache (`matquant generate`). A step runs new tokens
// after the cached ones: the same layers as DecoderModelImpl::forward (families, Gemma-2's
// softcapping, sliding windows and sandwich norms), with each layer's keys and values kept. The
// quantized projections can be served from bit planes (quant::bit_plane_linear: every precision
// from one packed store) or from slice packs (quant::slice_pack_linear: each precision a server
// offers packed at its own width), switched per request without reloading.
#include "model/decoder.h"
#include "model/rope.h"
#include "quant/bit_planes.h"
#include "quant/slice_pack.h"

#include <functional>
#include <map>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace matquant::model {

struct KvCache {
  std::vector<at::Tensor> keys, values;  // per layer [B, kv_heads, length, head_dim]
  int64_t length = 0;
  // Batched prompts of different lengths, left-padded (Generator::prefill): pads [B] (long) counts
  // each row's leading pad positions, key_valid [B, length] (bool) is false at them. Undefined when
  // no row is padded.
  at::Tensor pads, key_valid;
};

// A cache of fixed capacity for one-token steps with static shapes, which a CUDA graph can replay
// (model/captured_decoder.h): per layer [B, kv_heads, capacity, head_dim], zeros past the filled
// positions (masked, and finite so a zero probability times them stays zero), and the position
// the next token takes as a device tensor that the step itself advances.
struct StaticKvCache {
  std::vector<at::Tensor> keys, values;
  at::Tensor position;       // long [1]
  at::Tensor key_positions;  // long [1, capacity]: 0 .. capacity - 1
  int64_t capacity = 0;
  at::Tensor pads, key_valid;  // as KvCache's, key_valid [B, capacity] (true past the prompt)
};

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = the whole vocabulary
  uint64_t seed = 0;
};

class Generator {
 public:
  explicit Generator(DecoderModel model);
  // Joint packs are found by the addresses of their members' packs: a copy would not find them.
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  Generator(Generator&&) = default;
  Generator& operator=(Generator&&) = default;

  // Packs every frozen quantized linear's codes into bit planes on the model's device; from then
  // on those linears run through quant::bit_plane_linear at the precision the model serves.
  void pack_bit_planes();
  bool serves_bit_planes() const { return !planes_.empty(); }
  // Bytes the packed planes and their scales hold on the device.
  int64_t bit_plane_bytes() const;

  // Packs every frozen quantized linear's slice at the precision it serves now (call once per
  // precision offered, after model().set_precision); from then on a linear whose current precision
  // has a pack runs through quant::slice_pack_linear (before bit planes, if both exist).
  void pack_slices();
  bool serves_slice_packs() const { return !slices_.empty(); }
  // Bytes the slice packs and their scales hold on the device (scales shared by several packs
  // counted once).
  int64_t slice_pack_bytes() const;
  // Bytes of the packs (with their scales) that the model's current precision reads: what serving
  // only this precision would keep on the device.
  int64_t served_slice_pack_bytes();
  // Frees the dense weight and codes of every projection that has slice packs, once every
  // precision to be served is packed (a projection then has no other way to run); returns the
  // bytes freed. Serving a precision without a pack afterwards is an internal error.
  int64_t release_packed_projections();
  // Joint packs: per layer and precision, q, k and v stacked into one pack, and gate and up into
  // another (quant::stack_slice_packs), so a step runs one matmul for each group instead of one
  // per projection. pack_slices makes them; the members' packs become views of them, so the levels
  // are held once (a group's scales, zero points and biases are concatenated copies, shared by its
  // precisions). Groups whose packs cannot stack (biases on some members only, say) run one by one.
  int64_t joint_packs() const { return int64_t(joint_packs_.size()); }
  // Projections served from a slice pack so far (each call of a packed linear counts one; counted
  // on the host, so CUDA-graph replays of a captured step are not counted).
  int64_t slice_pack_calls() const { return slice_pack_calls_; }

  // Logits [B, vocab] (fp32) of the last of `tokens` [B, T], run after the cache's contents; the
  // cache grows by T.
  at::Tensor step(const at::Tensor& tokens, KvCache& cache);
  // Runs prompts of any lengths as one batch into an empty cache, left-padded to the longest: each
  // row's tokens keep positions 0, 1, ... and no token attends to another row's padding, so every
  // row decodes as it would alone. Logits [B, vocab] (fp32) of each prompt's last token.
  at::Tensor prefill(const std::vector<std::vector<int64_t>>& prompts, KvCache& cache);

  // A static cache of `capacity` positions holding `cache`'s contents (a prompt run by step()).
  StaticKvCache static_cache(const KvCache& cache, int64_t capacity) const;
  // Logits [B, vocab] (fp32) of `token` [B, 1] at the cache's position, which then advances by one:
  // step()'s layers with static shapes and no host reads of device values, so a CUDA graph can
  // capture it. Attention spans all `capacity` keys, the unfilled ones masked. The caller keeps
  // the position below the capacity. `token` is moved to the model's device (a no-op when it is
  // there, as a captured step's input must be).
  at::Tensor step_static(const at::Tensor& token, StaticKvCache& cache);

  // Picks the next token [B] from logits [B, vocab].
  at::Tensor sample(const at::Tensor& logits, const SamplingOptions& options, at::Generator& generator) const;

  DecoderModel& model() { return model_; }

 private:
  at::Tensor project(QuantizedLinear& linear, const at::Tensor& x);
  // Outputs of linears that read the same x: `parts` in order, and when they came from one joint
  // pack, `joint`, the output they are column ranges of.
  struct JointOutputs {
    at::Tensor joint;
    std::vector<at::Tensor> parts;
  };
  JointOutputs project_jointly(const std::vector<QuantizedLinear*>& linears, const at::Tensor& x);
  // Stacks the packs of `linears` at their current precisions into a joint pack, if they all have
  // one and can share a call.
  void join_packs(const std::vector<QuantizedLinear*>& linears);
  // The pack of `linear` at its current precision, or null.
  const quant::SlicePack* slice_for(const QuantizedLinear& linear) const;
  quant::SlicePack* slice_for(const QuantizedLinear& linear);
  // A layer's projected queries, keys and values [B, heads, T, D], q and k not yet rotated. qk,
  // when defined, holds q's heads and then k's in one tensor (a joint pack's output), which one
  // rotation covers.
  struct Projected {
    at::Tensor q, k, v, qk;
  };
  // q and k rotated by `rope`.
  static std::pair<at::Tensor, at::Tensor> rotated(const Projected& projected, const RopeTables& rope);
  // Stores layer `layer`'s new keys and values (rotated k, v) in the cache and returns the attention
  // of the rotated queries over everything stored, under `mask`.
  using StoreAndAttend = std::function<at::Tensor(int64_t layer, const Projected& projected, const RopeTables& rope,
                                                  const at::Tensor& mask)>;
  // Attention of one layer: projections, rotations, then `store_and_attend`.
  at::Tensor attention(DecoderLayerImpl& layer, const at::Tensor& x, const StoreAndAttend& store_and_attend,
                       const RopeTables& rope, const at::Tensor& mask);
  // The decoder layers and final norm over hidden states h [B, T, H] at `positions` [1, T] (T = 1
  // for static steps), with causal and sliding masks [1, 1, T, keys]; logits of the last position.
  at::Tensor run_layers(at::Tensor h, const StoreAndAttend& store_and_attend, const at::Tensor& positions,
                        const at::Tensor& causal, const at::Tensor& sliding);

  DecoderModel model_;
  at::Tensor inverse_frequencies_;
  std::map<const QuantizedLinearImpl*, quant::BitPlanes> planes_;
  std::map<std::tuple<const QuantizedLinearImpl*, int, quant::SliceMode>, quant::SlicePack> slices_;
  struct JointPack {
    quant::SlicePack pack;
    std::vector<int64_t> rows;  // each member's output columns, in order
    at::Tensor bias;            // the members' biases side by side, or undefined
  };
  std::map<std::vector<const quant::SlicePack*>, JointPack> joint_packs_;
  // A group's scales and zero points side by side: the same for every precision of its members.
  std::map<std::vector<const QuantizedLinearImpl*>, std::pair<at::Tensor, at::Tensor>> joint_scales_;
  int64_t slice_pack_calls_ = 0;
};

}  // namespace matquant::model
