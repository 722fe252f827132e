#include "train/gptq_calibration.h"

#include "common/device_memory.h"
#include "common/error.h"
#include "quant/clipping_search.h"

#include <ATen/Context.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <memory>

namespace matquant::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Projections reading one input share a Hessian: q/k/v read the normed hidden state, and so do
// gate/up in the MLP.
std::string input_group(const std::string& name) {
  // The projection's own name, after the last dot ("model.layers.3.mlp.up_proj" -> "up_proj").
  const std::string projection = name.substr(name.rfind('.') + 1);
  if (projection == "q_proj" || projection == "k_proj" || projection == "v_proj") return "qkv";
  if (projection == "gate_proj" || projection == "up_proj") return "gate_up";
  if (projection == "o_proj") return "o";
  if (projection == "down_proj") return "down";
  return name;
}

// The calibration forward passes on CUDA multiply in TF32 (torch.backends.cuda.matmul.allow_tf32),
// several times faster than fp32 at 7B; GPTQ's own updates stay fp32 (the setting is restored).
class Tf32ForwardPasses {
 public:
  explicit Tf32ForwardPasses(const at::Device& device) : on_(device.is_cuda()), previous_(at::globalContext().allowTF32CuBLAS()) {
    if (on_) at::globalContext().setAllowTF32CuBLAS(true);
  }
  ~Tf32ForwardPasses() {
    if (on_) at::globalContext().setAllowTF32CuBLAS(previous_);
  }
  Tf32ForwardPasses(const Tf32ForwardPasses&) = delete;
  Tf32ForwardPasses& operator=(const Tf32ForwardPasses&) = delete;

 private:
  bool on_, previous_;
};

struct InputGroup {
  std::string name;
  std::vector<model::QuantizedLinear> linears;
  std::shared_ptr<quant::HessianAccumulator> hessian = std::make_shared<quant::HessianAccumulator>();
};

int feed_precision(const std::vector<int>& bits, const std::vector<double>& lambdas) {
  size_t best = 0;
  for (size_t i = 1; i < bits.size(); ++i) {
    if (lambdas[i] > lambdas[best] || (lambdas[i] == lambdas[best] && bits[i] < bits[best])) best = i;
  }
  return bits.at(best);
}

// The group's projections were quantized as one stacked matrix: each gets its rows [first, end).
template <typename Load>
void for_each_projection_rows(InputGroup& group, Load load) {
  int64_t first = 0;
  for (auto& l : group.linears) {
    const int64_t end = first + l->weight.size(0);
    load(l, first, end);
    first = end;
  }
}

// MXINT (seed 004 Algorithm 1): micro-blocks of the MX block size, exponents from the current
// values; several precisions make it Matryoshka MXINT. AWQ's clipping search is for the affine grid
// only (seed 004 skips that calibration for MX formats).
double quantize_group_mx(InputGroup& group, const at::Tensor& stacked, const at::Tensor& hessian,
                         const GptqCalibrationConfig& config, bool& fallback) {
  const auto& quantizer = *group.linears.front()->quantizer();
  quant::NestedMxGrid grid(stacked.size(0), stacked.size(1), {quantizer.source_bits, quantizer.mx_block_size},
                           config.bits, config.lambdas);
  const auto result = quant::gptq_quantize(stacked, hessian, grid, config.gptq);
  fallback = result.hessian_fallback;
  const quant::MxCodes all = grid.codes();
  for_each_projection_rows(group, [&](model::QuantizedLinear& l, int64_t first, int64_t end) {
    quant::MxCodes part = all;
    part.codes = all.codes.slice(0, first, end).contiguous();
    part.exponents = all.exponents.slice(0, first, end).contiguous();
    l->load_mx_codes(std::move(part));
  });
  return result.loss;
}

// Quantizes the group's projections as one stacked matrix and loads each one's rows of the codes.
double quantize_group(InputGroup& group, const GptqCalibrationConfig& config, bool& fallback) {
  const auto& quantizer = *group.linears.front()->quantizer();
  std::vector<at::Tensor> weights;
  for (auto& l : group.linears) weights.push_back(l->weight.detach());
  const at::Tensor stacked = weights.size() == 1 ? weights.front() : at::cat(weights, 0);
  // Round to nearest is GPTQ without a Hessian: no error moves, nothing is factorised.
  const at::Tensor hessian = config.round_to_nearest ? at::Tensor() : group.hessian->hessian();
  if (quantizer.mx_block_size > 0) return quantize_group_mx(group, stacked, hessian, config, fallback);
  // AWQ clips each group's range too (llm-awq auto_clip), scored with the block's Hessian.
  std::optional<quant::AffineParams> clipped;
  if (config.smoothing == Smoothing::kAwq) {
    clipped = quant::search_clipping(stacked, group.hessian->hessian(), quantizer.source_bits, quantizer.group_size,
                                     config.bits, config.lambdas, quantizer.slice_mode);
  }
  quant::NestedAffineGrid grid(stacked, quantizer.source_bits, quantizer.group_size, config.bits, config.lambdas,
                               quantizer.slice_mode, clipped);
  const auto result = quant::gptq_quantize(stacked, hessian, grid, config.gptq);
  fallback = result.hessian_fallback;
  const quant::NestedCodes all = grid.codes();
  for_each_projection_rows(group, [&](model::QuantizedLinear& l, int64_t first, int64_t end) {
    quant::NestedCodes part = all;
    part.codes = all.codes.slice(0, first, end).contiguous();
    part.scale = all.scale.slice(0, first, end).contiguous();
    part.zero_point = all.zero_point.slice(0, first, end).contiguous();
    l->load_codes(std::move(part));
  });
  return result.loss;
}

// The frozen codes of `linear`, moved to `device` (the block goes home after it is quantized).
void move_codes(model::QuantizedLinear& linear, const at::Device& device) {
  if (auto mx = linear->mx_codes()) {
    mx->codes = mx->codes.to(device);
    mx->exponents = mx->exponents.to(device);
    linear->load_mx_codes(std::move(*mx));
  } else {
    linear->load_codes(linear->codes()->to(device));
  }
}

}  // namespace

GptqSummary calibrate_gptq(model::DecoderModel& model, const at::Tensor& calibration,
                           const GptqCalibrationConfig& config, const at::Device& device) {
  if (calibration.dim() != 2) throw_invalid("calibration data must be [samples, length]");
  if (config.bits.empty() || config.bits.size() != config.lambdas.size()) {
    throw_invalid("GPTQ needs one lambda per precision");
  }
  c10::NoGradGuard no_grad;
  const auto start = Clock::now();
  const at::Device home = model->embed_tokens.device();
  const int64_t n = calibration.size(0);
  const int64_t bs = std::max<int64_t>(1, std::min(config.batch_size, n));
  const int64_t batches = (n + bs - 1) / bs;
  GptqSummary summary;
  summary.feed_bits = feed_precision(config.bits, config.lambdas);

  at::Tensor stream = model->embed(calibration.to(home)).to(device);
  const auto attention = model->prepare_attention({}, bs, calibration.size(1), stream.scalar_type(), device);
  std::vector<std::tuple<std::string, int64_t, model::QuantizedLinear>> linears = model->quantized_linears();
  for (auto& [name, index, linear] : linears) {
    if (!linear->has_quantizer() || linear->clipping) {
      throw Error(ErrorCode::kInternal, "GPTQ needs MinMax quantizers on every projection in scope (" + name + ")");
    }
  }

  for (auto& layer : model->layers) {
    const auto block_start = Clock::now();
    reset_peak_device_memory(device);
    layer->to(device);
    std::vector<InputGroup> groups;
    for (auto& [name, index, linear] : linears) {
      if (index != layer->index) continue;
      const std::string key = input_group(name);
      auto it = std::find_if(groups.begin(), groups.end(), [&](const InputGroup& g) { return g.name == key; });
      if (it == groups.end()) {
        groups.push_back({key, {}});
        it = std::prev(groups.end());
      }
      it->linears.push_back(linear);
      linear->set_precision(std::nullopt);
    }
    const at::Tensor& mask = attention.mask_for(*layer, model->config());
    auto run = [&](const at::Tensor& x) {
      const at::Tensor m = mask.size(0) == x.size(0) ? mask : mask.slice(0, 0, x.size(0));
      const Tf32ForwardPasses tf32(device);
      return layer->forward(x, m, attention.cos, attention.sin);
    };
    auto batch = [&](int64_t b) { return stream.slice(0, b * bs, std::min(n, (b + 1) * bs)); };
    GptqBlockReport report;
    report.layer = layer->index;
    report.layers = int64_t(model->layers.size());
    if (config.smoothing != Smoothing::kNone) {
      // SmoothQuant's maxima come from every sequence; AWQ searches on the first ones.
      std::vector<at::Tensor> inputs;
      int64_t tokens = 0;
      for (int64_t b = 0; b < batches; ++b) {
        if (config.smoothing == Smoothing::kAwq && !inputs.empty() && tokens >= config.awq_search_tokens) break;
        inputs.push_back(batch(b));
        tokens += inputs.back().size(0) * inputs.back().size(1);
      }
      const auto smoothing_start = Clock::now();
      SmoothingConfig smoothing;
      smoothing.method = config.smoothing;
      smoothing.bits = config.bits;
      smoothing.lambdas = config.lambdas;
      const auto smoothed = smooth_block(*layer, inputs, run, smoothing);
      synchronize_device(device);
      report.smoothing_seconds = seconds_since(smoothing_start);
      report.smoothing_alpha = smoothed.alpha_by_pair;
    }
    const auto hessian_start = Clock::now();
    const bool mx = groups.empty() ? false : groups.front().linears.front()->quantizer()->mx_block_size > 0;
    if (!config.round_to_nearest || (config.smoothing == Smoothing::kAwq && !mx)) {
      for (auto& g : groups) {
        auto hessian = g.hessian;
        g.linears.front()->set_input_observer([hessian](const at::Tensor& x) { hessian->add(x); });
      }
      for (int64_t b = 0; b < batches; ++b) run(batch(b));
      for (auto& g : groups) g.linears.front()->set_input_observer({});
    }
    synchronize_device(device);  // the phases' times are the device's, not the launches'
    report.hessian_seconds = seconds_since(hessian_start);
    const auto quantize_start = Clock::now();
    for (auto& g : groups) {
      bool fallback = false;
      const double loss = quantize_group(g, config, fallback);
      g.hessian.reset();
      report.loss_by_group[g.name] = loss;
      report.loss += loss;
      report.hessian_fallbacks += fallback ? int64_t(g.linears.size()) : 0;
    }
    synchronize_device(device);
    report.quantize_seconds = seconds_since(quantize_start);

    // The next block reads this one's quantized outputs.
    for (auto& g : groups) {
      for (auto& l : g.linears) l->set_precision(summary.feed_bits);
    }
    std::vector<at::Tensor> outs;
    for (int64_t b = 0; b < batches; ++b) outs.push_back(run(batch(b)));
    stream = at::cat(outs, 0);
    outs.clear();
    for (auto& g : groups) {
      for (auto& l : g.linears) {
        l->set_precision(std::nullopt);
      }
    }
    layer->to(home);
    for (auto& g : groups) {
      for (auto& l : g.linears) move_codes(l, home);
    }
    report.seconds = seconds_since(block_start);
    report.peak_device_bytes = peak_device_memory(device);
    summary.blocks.push_back(report);
    if (config.on_block) config.on_block(report);
  }
  summary.seconds = seconds_since(start);
  return summary;
}

}  // namespace matquant::train
