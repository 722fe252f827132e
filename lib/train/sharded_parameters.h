#pragma once
// ZeRO-3 / FSDP-style sharding of a group of parameters (one decoder layer, or the embedding,
// final norm and head): the group is flattened into one fp32 buffer padded to a multiple of the
// world size, and each rank keeps only its contiguous slice, the master shard the optimizer
// updates. Before use the ranks all-gather the buffer and every parameter is pointed at its slice
// of it (set_data, so autograd still sees the same leaf); after use the parameters are emptied.
// Gradients of the full parameters are flattened the same way and reduce-scattered, so each rank
// accumulates only its shard's gradient.
#include "distributed/communicator.h"

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

namespace matquant::train {

class ShardedParameters {
 public:
  // `parameters` hold the full values (identical on every rank); afterwards they are empty and
  // this rank's slice lives in master().
  // The master shard and the gathered buffers live on `device`.
  ShardedParameters(std::vector<at::Tensor> parameters, distributed::Communicator& communicator,
                    const c10::Device& device);

  // Starts gathering the full buffer (nothing if gathered or already in flight).
  void gather_async();
  // Waits for the gather (starting it if needed) and points the parameters at the full buffer.
  void materialize();
  // Empties the parameters and drops the full buffer (memory is freed once nothing else holds it).
  void release();
  bool materialized() const { return materialized_; }

  // Starts reducing `gradients` (aligned with the parameters; undefined = zero) into this rank's
  // shard; the previous reduction, if any, is finished first.
  void reduce_gradients_async(const std::vector<at::Tensor>& gradients);
  // Finishes the reduction in flight and adds its result to master().grad().
  void finish_gradients();

  at::Tensor& master() { return master_; }
  const std::vector<at::Tensor>& parameters() const { return parameters_; }
  int64_t parameter_count() const { return total_; }

 private:
  bool in_process() const;

  std::vector<at::Tensor> parameters_;
  std::vector<std::vector<int64_t>> shapes_;
  std::vector<int64_t> offsets_, numels_;
  int64_t total_ = 0;
  int64_t shard_length_ = 0;
  distributed::Communicator& communicator_;
  at::Tensor master_;  // fp32 [shard_length_]; its grad is the reduced gradient shard (sum over ranks)
  at::Tensor full_;    // fp32 [world * shard_length_] while gathered or gathering
  std::unique_ptr<distributed::PendingCollective> gathering_;
  bool materialized_ = false;
  at::Tensor reducing_input_, reducing_output_;
  std::unique_ptr<distributed::PendingCollective> reducing_;
};

}  // namespace matquant::train
