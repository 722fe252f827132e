#include "train/activation_aware_scaling.h"

#include "common/error.h"
#include "train/equivalent_transformation.h"

#include <c10/core/GradMode.h>

#include <chrono>
#include <limits>
#include <memory>

namespace matquant::train {

namespace {

struct PairConsumers {
  SmoothingPair pair;
  std::vector<model::QuantizedLinear> linears;  // the first one's input is the pair's X
};

std::vector<PairConsumers> pairs_of(model::DecoderLayerImpl& layer) {
  return {{SmoothingPair::kAttentionInput, {layer.q_proj, layer.k_proj, layer.v_proj}},
          {SmoothingPair::kValueOutput, {layer.o_proj}},
          {SmoothingPair::kFfnInput, {layer.gate_proj, layer.up_proj}},
          {SmoothingPair::kUpDown, {layer.down_proj}}};
}

// v -> o: one scale per v channel; o's input has one channel per query head, query head h reading
// kv head h / (heads / kv_heads), so the statistic of a kv channel is the mean over its query heads.
at::Tensor to_pair_channels(const model::DecoderLayerImpl& layer, SmoothingPair pair, const at::Tensor& per_input) {
  if (pair != SmoothingPair::kValueOutput) return per_input;
  const auto& c = *layer.config;
  const int64_t repeat = c.num_attention_heads / c.num_key_value_heads;
  return per_input.view({c.num_key_value_heads, repeat, c.head_dim}).mean(1).reshape({-1});
}

// Per-channel mean |x| over every row the consumer saw.
struct AbsMean {
  at::Tensor sum;
  int64_t rows = 0;
  void add(const at::Tensor& x) {
    const at::Tensor flat = x.detach().reshape({-1, x.size(-1)}).to(at::kFloat);
    const at::Tensor s = flat.abs().sum(0);
    sum = sum.defined() ? sum + s : s;
    rows += flat.size(0);
  }
  at::Tensor mean() const { return sum / double(std::max<int64_t>(rows, 1)); }
};

double block_error(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& targets,
                   const std::function<at::Tensor(const at::Tensor&)>& run) {
  double total = 0.0;
  for (size_t b = 0; b < inputs.size(); ++b) {
    total += (run(inputs[b]).to(at::kFloat) - targets[b]).square().mean().item<double>();
  }
  return total / double(inputs.size());
}

void set_precision(std::vector<model::QuantizedLinear>& linears, std::optional<int> bits) {
  for (auto& l : linears) l->set_precision(bits);
}

}  // namespace

Smoothing parse_smoothing(const std::string& text) {
  if (text == "none" || text.empty()) return Smoothing::kNone;
  if (text == "smoothquant") return Smoothing::kSmoothQuant;
  if (text == "awq") return Smoothing::kAwq;
  throw_invalid("smoothing '" + text + "' is not one of: none, smoothquant, awq");
}

SmoothingReport smooth_block(model::DecoderLayerImpl& layer, const std::vector<at::Tensor>& inputs,
                             const std::function<at::Tensor(const at::Tensor&)>& run, const SmoothingConfig& config) {
  SmoothingReport report;
  if (config.method == Smoothing::kNone) return report;
  if (config.bits.empty() || config.bits.size() != config.lambdas.size()) throw_invalid("smoothing needs one lambda per precision");
  const auto start = std::chrono::steady_clock::now();
  c10::NoGradGuard no_grad;
  EquivalentTransformation transformation(layer);
  auto pairs = pairs_of(layer);
  // Statistics of the full-precision block: SmoothQuant's max |X| (recorded by the linears), AWQ's
  // mean |X| and the outputs its search compares against.
  std::map<SmoothingPair, std::shared_ptr<AbsMean>> means;
  for (auto& p : pairs) {
    if (!transformation->active(p.pair)) continue;
    auto mean = std::make_shared<AbsMean>();
    means[p.pair] = mean;
    p.linears.front()->set_input_observer([mean](const at::Tensor& x) { mean->add(x); });
  }
  EquivalentTransformationImpl::record_inputs(layer, true);
  std::vector<at::Tensor> targets;
  for (const auto& x : inputs) targets.push_back(run(x).to(at::kFloat));
  EquivalentTransformationImpl::record_inputs(layer, false);
  for (auto& p : pairs) p.linears.front()->set_input_observer({});

  if (config.method == Smoothing::kSmoothQuant) {
    transformation->initialize_scales(layer, config.alpha);
    for (auto& p : pairs) {
      if (transformation->active(p.pair)) report.alpha_by_pair[to_string(p.pair)] = config.alpha;
    }
  } else {
    for (auto& p : pairs) {
      if (!transformation->active(p.pair)) continue;
      const at::Tensor x_mean = to_pair_channels(layer, p.pair, means.at(p.pair)->mean());
      at::Tensor best_scale = transformation->scale(p.pair).clone();
      double best_error = std::numeric_limits<double>::infinity();
      double best_alpha = 0.0;
      for (int64_t g = 0; g < config.grid; ++g) {
        const double alpha = double(g) / double(config.grid);
        at::Tensor s = x_mean.pow(alpha).clamp_min(1e-4);
        s = s / (s.max() * s.min()).sqrt();
        transformation->scale(p.pair).copy_(s);
        transformation->apply(layer);
        double error = 0.0;
        for (size_t i = 0; i < config.bits.size(); ++i) {
          if (config.lambdas[i] == 0.0) continue;
          set_precision(p.linears, config.bits[i]);
          error += config.lambdas[i] * block_error(inputs, targets, run);
        }
        set_precision(p.linears, std::nullopt);
        if (error < best_error) {
          best_error = error;
          best_alpha = alpha;
          best_scale = s.clone();
        }
      }
      transformation->scale(p.pair).copy_(best_scale);
      report.alpha_by_pair[to_string(p.pair)] = best_alpha;
    }
    EquivalentTransformationImpl::clear(layer);
  }
  transformation->fold(layer);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace matquant::train
