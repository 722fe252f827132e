#pragma once
// The collectives sharded training needs, behind an interface that keeps c10d's headers (and
// Gloo's, NCCL's) out of every other translation unit. Implemented by LibTorch's own distributed
// layer (lib/distributed/process_group.cpp: ProcessGroupNCCL between GPUs, ProcessGroupGloo on the
// CPU, rendezvous through c10d's TCPStore) and, for one process, by plain copies.
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace matquant::distributed {

// A collective in flight. wait() makes the caller's current stream (CUDA) or thread (CPU) wait
// for it; until then its tensors must stay alive and untouched.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // full = the ranks' `shard`s concatenated in rank order (full.numel() == world * shard.numel()).
  virtual std::unique_ptr<PendingCollective> all_gather(at::Tensor full, at::Tensor shard) = 0;
  // shard = this rank's slice of the element-wise sum over ranks of `full`.
  virtual std::unique_ptr<PendingCollective> reduce_scatter_sum(at::Tensor shard, at::Tensor full) = 0;
  // In place, blocking.
  virtual void all_reduce_sum(at::Tensor tensor) = 0;
  virtual void barrier() = 0;
  // "nccl", "gloo" or "single".
  virtual std::string backend() const = 0;
};

// The one-process communicator: every collective is a copy.
std::shared_ptr<Communicator> single_process_communicator();

}  // namespace matquant::distributed
