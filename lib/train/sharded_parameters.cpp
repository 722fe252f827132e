#include "train/sharded_parameters.h"

#include "kernels/master_weight_ops.h"

#include "common/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace matquant::train {

ShardedParameters::ShardedParameters(std::vector<at::Tensor> parameters, distributed::Communicator& communicator,
                                     const c10::Device& device)
    : parameters_(std::move(parameters)), communicator_(communicator) {
  if (parameters_.empty()) throw Error(ErrorCode::kInternal, "sharding an empty parameter group");
  const c10::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const auto& p : parameters_) {
    shapes_.push_back(p.sizes().vec());
    offsets_.push_back(total_);
    numels_.push_back(p.numel());
    total_ += p.numel();
    flat.push_back(p.detach().to(at::kFloat).reshape({-1}));
  }
  const int64_t world = communicator_.world_size();
  shard_length_ = (total_ + world - 1) / world;
  const int64_t padding = shard_length_ * world - total_;
  if (padding > 0) flat.push_back(at::zeros({padding}, flat.front().options()));
  master_ = at::cat(flat).narrow(0, communicator_.rank() * shard_length_, shard_length_).to(device, /*non_blocking=*/false,
                                                                                           /*copy=*/true);
  release();
}

// One rank without a process group (the offload path): no collective, no copies. A process group
// of one rank (tests on one GPU) takes the collective path like any other size.
bool ShardedParameters::in_process() const {
  return communicator_.world_size() == 1 && communicator_.backend() == "single";
}

void ShardedParameters::gather_async() {
  if (materialized_ || gathering_) return;
  if (in_process()) return;  // materialize() points at the master itself
  full_ = at::empty({shard_length_ * communicator_.world_size()}, master_.options());
  gathering_ = communicator_.all_gather(full_, master_);
}

void ShardedParameters::materialize() {
  if (materialized_) return;
  if (in_process()) {
    full_ = master_;
  } else {
    gather_async();
    gathering_->wait();
    gathering_.reset();
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    parameters_[i].set_data(full_.narrow(0, offsets_[i], numels_[i]).view(shapes_[i]));
  }
  kernels::note_weights_changed();  // set_data bumps no version; a re-gather may reuse the address
  materialized_ = true;
}

void ShardedParameters::release() {
  if (gathering_) {
    gathering_->wait();
    gathering_.reset();
  }
  for (auto& p : parameters_) p.set_data(at::empty({0}, master_.options()));
  full_ = at::Tensor();
  materialized_ = false;
}

void ShardedParameters::reduce_gradients_async(const std::vector<at::Tensor>& gradients) {
  if (gradients.size() != parameters_.size()) throw Error(ErrorCode::kInternal, "gradient list does not match parameters");
  finish_gradients();
  const c10::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (size_t i = 0; i < gradients.size(); ++i) {
    flat.push_back(gradients[i].defined() ? gradients[i].to(at::kFloat).reshape({-1})
                                          : at::zeros({numels_[i]}, master_.options()));
  }
  const int64_t padding = shard_length_ * communicator_.world_size() - total_;
  if (padding > 0) flat.push_back(at::zeros({padding}, master_.options()));
  if (in_process()) {  // the sum over one rank is the gradient itself
    at::Tensor& grad = master_.mutable_grad();
    grad = grad.defined() ? grad.add_(at::cat(flat)) : at::cat(flat);
    return;
  }
  reducing_input_ = at::cat(flat);
  reducing_output_ = at::empty({shard_length_}, master_.options());
  reducing_ = communicator_.reduce_scatter_sum(reducing_output_, reducing_input_);
}

void ShardedParameters::finish_gradients() {
  if (!reducing_) return;
  reducing_->wait();
  reducing_.reset();
  const c10::NoGradGuard no_grad;
  at::Tensor& grad = master_.mutable_grad();
  if (grad.defined()) {
    grad.add_(reducing_output_);
  } else {
    grad = reducing_output_;
  }
  reducing_input_ = at::Tensor();
  reducing_output_ = at::Tensor();
}

}  // namespace matquant::train
