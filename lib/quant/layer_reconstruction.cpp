#include "quant/layer_reconstruction.h"

#include "common/error.h"
#include "quant/fake_quant.h"

#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/optim/adamw.h>

namespace matquant::quant {

ReconstructionResult reconstruct_layer(const at::Tensor& weight, const at::Tensor& inputs,
                                       const ReconstructionConfig& config) {
  if (config.bits.size() != config.lambdas.size()) {
    throw_invalid(fmt::format("{} bit widths but {} lambda weights", config.bits.size(),
                              config.lambdas.size()));
  }
  const at::Tensor w = weight.detach();
  const at::Tensor target = at::matmul(inputs, w.t()).detach();
  ReconstructionResult result;
  result.clipping = LearnableClipping(w.size(0), group_count(w.size(1), config.group_size));
  result.clipping->to(w.device());
  torch::optim::AdamW optimizer(result.clipping->parameters(),
                                torch::optim::AdamWOptions(config.learning_rate).weight_decay(0.0));
  for (int step = 0; step < config.steps; ++step) {
    optimizer.zero_grad();
    const AffineParams params =
        result.clipping->params(to_groups(w, config.group_size), config.source_bits);
    at::Tensor loss = at::zeros({}, w.options());
    for (size_t i = 0; i < config.bits.size(); ++i) {
      if (config.lambdas[i] == 0.0) continue;
      const FakeQuantSpec spec{config.source_bits, config.bits[i], config.mode, config.group_size};
      const at::Tensor output = at::matmul(inputs, fake_quantize(w, params, spec).t());
      loss = loss + config.lambdas[i] * (output - target).pow(2).mean();
    }
    loss.backward();
    optimizer.step();
    result.losses.push_back(loss.item<double>());
  }
  return result;
}

double relative_output_error(const at::Tensor& weight, const at::Tensor& dequantized,
                             const at::Tensor& inputs) {
  c10::NoGradGuard no_grad;
  const at::Tensor reference = at::matmul(inputs, weight.t());
  const at::Tensor error = at::matmul(inputs, dequantized.t()) - reference;
  return error.pow(2).mean().item<double>() / reference.pow(2).mean().item<double>();
}

}  // namespace matquant::quant
