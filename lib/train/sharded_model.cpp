#include "train/sharded_model.h"

#include "common/error.h"
#include "train/training_step.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/autograd.h>

#include <set>

namespace matquant::train {

namespace {

// As CheckpointedBlock (train/activation_checkpoint.cpp), with the layer's parameters gathered
// around both passes and its gradients reduce-scattered instead of accumulated.
struct ShardedBlock : public torch::autograd::Function<ShardedBlock> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                                                const at::Tensor& mask, const at::Tensor& cos,
                                                const at::Tensor& sin, int64_t model_address, int64_t index) {
    auto* sharded = reinterpret_cast<ShardedModel*>(model_address);
    ctx->save_for_backward({hidden, mask, cos, sin});
    ctx->saved_data["model"] = model_address;
    ctx->saved_data["index"] = index;
    ctx->saved_data["autocast"] = at::autocast::is_autocast_enabled(at::kCUDA);
    ctx->saved_data["autocast_dtype"] = at::autocast::get_autocast_dtype(at::kCUDA);
    return {sharded->forward_layer(index, hidden, mask, cos, sin)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    auto* sharded = reinterpret_cast<ShardedModel*>(ctx->saved_data["model"].toInt());
    const at::Tensor grad_input = sharded->backward_layer(
        ctx->saved_data["index"].toInt(), saved[0], saved[1], saved[2], saved[3], grad_outputs[0],
        ctx->saved_data["autocast"].toBool(), ctx->saved_data["autocast_dtype"].toScalarType());
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

ShardedModel::ShardedModel(model::DecoderModel& model, distributed::Communicator& communicator,
                           const c10::Device& device)
    : model_(model), communicator_(communicator) {
  std::set<const c10::TensorImpl*> in_layers;
  for (auto& layer : model_->layers) {
    std::vector<at::Tensor> parameters = layer->parameters();
    for (const auto& p : parameters) in_layers.insert(p.unsafeGetTensorImpl());
    layers_.push_back(std::make_unique<ShardedParameters>(std::move(parameters), communicator_, device));
  }
  std::vector<at::Tensor> outer;
  for (const auto& p : model_->parameters()) {
    if (!in_layers.count(p.unsafeGetTensorImpl())) outer.push_back(p);
  }
  outer_ = std::make_unique<ShardedParameters>(std::move(outer), communicator_, device);
  model_->to(device);  // buffers; the parameters are empty now
  auto* self = this;
  model_->set_layer_runner([self](model::DecoderLayerImpl& layer, const at::Tensor& hidden, const at::Tensor& mask,
                                  const at::Tensor& cos, const at::Tensor& sin) {
    if (!at::GradMode::is_enabled() || !hidden.requires_grad()) {
      return self->forward_layer(layer.index, hidden, mask, cos, sin);
    }
    return ShardedBlock::apply(hidden, mask, cos, sin, reinterpret_cast<int64_t>(self), layer.index)[0];
  });
}

ShardedModel::~ShardedModel() { model_->set_layer_runner({}); }

void ShardedModel::begin_step() {
  outer_->materialize();
  if (!layers_.empty()) layers_.front()->gather_async();
}

void ShardedModel::end_step() {
  for (auto& layer : layers_) layer->finish_gradients();
  reducing_ = nullptr;
  std::vector<at::Tensor> gradients;
  for (auto& p : outer_->parameters()) gradients.push_back(p.grad());
  outer_->reduce_gradients_async(gradients);
  outer_->finish_gradients();
  for (auto& p : outer_->parameters()) p.mutable_grad() = at::Tensor();
  outer_->release();
  const c10::NoGradGuard no_grad;
  const double mean = 1.0 / double(communicator_.world_size());
  for (auto& master : masters()) {
    if (master.grad().defined()) master.mutable_grad().mul_(mean);
  }
}

void ShardedModel::gather_all() {
  outer_->materialize();
  for (auto& layer : layers_) layer->materialize();
}

std::vector<at::Tensor> ShardedModel::masters() {
  std::vector<at::Tensor> out{outer_->master()};
  for (auto& layer : layers_) out.push_back(layer->master());
  return out;
}

at::Tensor ShardedModel::forward_layer(int64_t index, const at::Tensor& hidden, const at::Tensor& mask,
                                       const at::Tensor& cos, const at::Tensor& sin) {
  auto& group = *layers_.at(size_t(index));
  const bool keep = group.materialized();  // gather_all() left it gathered: keep it so
  group.materialize();
  if (size_t(index) + 1 < layers_.size()) layers_[size_t(index) + 1]->gather_async();
  at::Tensor out = model_->layers[size_t(index)]->forward(hidden, mask, cos, sin);
  if (!keep) group.release();
  return out;
}

at::Tensor ShardedModel::backward_layer(int64_t index, const at::Tensor& hidden, const at::Tensor& mask,
                                        const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& grad_output,
                                        bool autocast, at::ScalarType autocast_dtype) {
  auto& group = *layers_.at(size_t(index));
  group.materialize();
  if (index > 0) layers_[size_t(index) - 1]->gather_async();
  at::Tensor input = hidden.detach().requires_grad_(true);
  at::Tensor output;
  {
    const at::AutoGradMode grad_on(true);
    const AutocastScope scope(autocast, autocast_dtype);
    output = model_->layers[size_t(index)]->forward(input, mask, cos, sin);
  }
  std::vector<at::Tensor> inputs{input};
  for (const auto& p : group.parameters()) inputs.push_back(p);
  auto gradients = torch::autograd::grad({output}, inputs, {grad_output}, /*retain_graph=*/false,
                                         /*create_graph=*/false, /*allow_unused=*/true);
  output = at::Tensor();
  const at::Tensor grad_input = gradients.front();
  gradients.erase(gradients.begin());
  // The master-gradient ops (kernels/master_weight_ops.h) wrote their weights' gradients into .grad
  // instead of answering through autograd::grad.
  const auto& parameters = group.parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    at::Tensor& written = parameters[i].mutable_grad();
    if (!written.defined()) continue;
    gradients[i] = gradients[i].defined() ? gradients[i] + written : written;
    written = at::Tensor();
  }
  group.release();
  // One reduction in flight in all: a finished one's buffers (a layer's full gradient, twice) are
  // freed before the next starts, instead of waiting for that layer's next backward pass.
  if (reducing_ != nullptr && reducing_ != &group) reducing_->finish_gradients();
  group.reduce_gradients_async(gradients);
  reducing_ = &group;
  return grad_input;
}

void clip_sharded_gradients(const std::vector<at::Tensor>& masters, double max_norm,
                            distributed::Communicator& communicator) {
  if (max_norm <= 0) return;
  const c10::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& m : masters) {
    if (m.grad().defined()) grads.push_back(m.grad());
  }
  if (grads.empty()) return;
  // Per-shard norms (no copy of the gradients: a double copy of the embedding's shard was GBs),
  // their squares summed in double over this rank's shards and then over the ranks.
  at::Tensor squares = at::stack(at::_foreach_norm(grads, 2)).to(at::kDouble).pow(2).sum().reshape({1});
  communicator.all_reduce_sum(squares);
  const at::Tensor coefficient = at::clamp_max(max_norm / (squares.sqrt() + 1e-6), 1.0).to(at::kFloat);
  for (auto& g : grads) g.mul_(coefficient);
}

}  // namespace matquant::train
