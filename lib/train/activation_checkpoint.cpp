#include "train/activation_checkpoint.h"

#include "common/error.h"
#include "kernels/projection_stash.h"
#include "train/training_step.h"

#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/autograd.h>

#include <atomic>

namespace matquant::train {

namespace {

std::atomic<int64_t> recomputations{0};

struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  // The layer travels as an address: saved_data holds IValues, and a module holder is not one.
  // The model outlives every backward pass of its own forward.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                                                const at::Tensor& mask, const at::Tensor& cos,
                                                const at::Tensor& sin, int64_t layer_address, bool selective) {
    // Function::apply runs this with gradient recording off: no activations are kept (selective: but
    // the projections' outputs and quantized weights, kernels/projection_stash.h).
    auto* layer = reinterpret_cast<model::DecoderLayerImpl*>(layer_address);
    ctx->save_for_backward({hidden, mask, cos, sin});
    ctx->saved_data["layer"] = layer_address;
    const bool autocast = at::autocast::is_autocast_enabled(at::kCUDA);
    ctx->saved_data["autocast"] = autocast;
    ctx->saved_data["autocast_dtype"] = at::autocast::get_autocast_dtype(at::kCUDA);
    if (!selective) return {layer->forward(hidden, mask, cos, sin)};
    auto stash = c10::make_intrusive<kernels::ProjectionStash>();
    at::Tensor output;
    {
      const kernels::ProjectionStashScope recording(stash.get(), kernels::ProjectionStashScope::Mode::kRecord);
      output = layer->forward(hidden, mask, cos, sin);
    }
    ctx->saved_data["stash"] = c10::IValue::make_capsule(std::move(stash));
    return {output};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<model::DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    at::Tensor input = saved[0].detach().requires_grad_(true);
    at::Tensor output;
    {
      kernels::ProjectionStash* stash = nullptr;
      if (auto kept = ctx->saved_data.find("stash"); kept != ctx->saved_data.end()) {
        stash = static_cast<kernels::ProjectionStash*>(kept->second.toCapsule().get());
      }
      const kernels::ProjectionStashScope replaying(stash, kernels::ProjectionStashScope::Mode::kReplay);
      const at::AutoGradMode grad_on(true);
      const AutocastScope autocast(ctx->saved_data["autocast"].toBool(),
                                   ctx->saved_data["autocast_dtype"].toScalarType());
      output = layer->forward(input, saved[1], saved[2], saved[3]);
      if (stash) stash->clear();  // what the recomputation did not take back is not kept for the backward
    }
    ++recomputations;
    // Reentrant backward: parameter gradients accumulate into .grad, the input's comes back here.
    torch::autograd::backward({output}, {grad_outputs[0]});
    return {input.grad(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpointed_layer_forward(model::DecoderLayerImpl& layer, const at::Tensor& hidden,
                                      const at::Tensor& mask, const at::Tensor& cos, const at::Tensor& sin,
                                      bool selective) {
  if (!at::GradMode::is_enabled() || !hidden.requires_grad()) return layer.forward(hidden, mask, cos, sin);
  return CheckpointedBlock::apply(hidden, mask, cos, sin, reinterpret_cast<int64_t>(&layer), selective)[0];
}

void set_activation_checkpointing(model::DecoderModel& model, bool on, bool selective) {
  if (!on) {
    model->set_layer_runner({});
    return;
  }
  model->set_layer_runner([selective](model::DecoderLayerImpl& layer, const at::Tensor& hidden, const at::Tensor& mask,
                                      const at::Tensor& cos, const at::Tensor& sin) {
    return checkpointed_layer_forward(layer, hidden, mask, cos, sin, selective);
  });
}

int64_t activation_checkpoint_recomputations() { return recomputations.load(); }

}  // namespace matquant::train
