#pragma once
// A decoder model whose parameters are sharded across the ranks of a communicator
// (train/sharded_parameters.h): one group per decoder layer, one for everything else (embedding,
// final norm, untied head). The non-layer group is gathered for a whole step; a layer's group is
// gathered just before the layer runs and emptied after it, in the forward pass and again in the
// backward pass, where the layer is recomputed from its saved input (so sharded training always
// recomputes activations, as activation checkpointing does) and its gradients are reduce-scattered
// at once. The next layer's gather is started before the current layer computes (the previous
// layer's in backward), so communication overlaps compute; one reduction is in flight at a time.
#include "distributed/communicator.h"
#include "model/decoder.h"
#include "train/sharded_parameters.h"

#include <memory>
#include <vector>

namespace matquant::train {

class ShardedModel {
 public:
  // Shards the model's parameters (which must hold the same values on every rank) and installs
  // the sharded layer runner; the destructor removes it.
  ShardedModel(model::DecoderModel& model, distributed::Communicator& communicator, const c10::Device& device);
  ~ShardedModel();
  ShardedModel(const ShardedModel&) = delete;
  ShardedModel& operator=(const ShardedModel&) = delete;

  // Before a step's first forward pass: gathers the non-layer group and starts layer 0's gather.
  void begin_step();
  // After a step's last backward pass: finishes every reduction, reduces the non-layer group's
  // gradients, empties it, and divides the master gradients by the world size (mean over ranks).
  void end_step();
  // Every group gathered and kept: the full model on every rank (to save or evaluate it).
  void gather_all();

  // The master shards, in a fixed order (the optimizer's parameters, the saved state's tensors).
  std::vector<at::Tensor> masters();

  // The layer runner's work (public for the autograd function in sharded_model.cpp).
  at::Tensor forward_layer(int64_t index, const at::Tensor& hidden, const at::Tensor& mask, const at::Tensor& cos,
                           const at::Tensor& sin);
  at::Tensor backward_layer(int64_t index, const at::Tensor& hidden, const at::Tensor& mask, const at::Tensor& cos,
                            const at::Tensor& sin, const at::Tensor& grad_output, bool autocast,
                            at::ScalarType autocast_dtype);

 private:
  model::DecoderModel& model_;
  distributed::Communicator& communicator_;
  std::unique_ptr<ShardedParameters> outer_;
  std::vector<std::unique_ptr<ShardedParameters>> layers_;
  ShardedParameters* reducing_ = nullptr;  // the group whose gradient reduction is in flight
};

// max_norm > 0: scales the master gradients so the global norm over all ranks' shards is at most
// max_norm (the coefficient clip_grad_norm_ uses).
void clip_sharded_gradients(const std::vector<at::Tensor>& masters, double max_norm,
                            distributed::Communicator& communicator);

}  // namespace matquant::train
