#include "train/omniquant_trainer.h"

#include "common/device_memory.h"
#include "common/error.h"
#include "train/equivalent_transformation.h"
#include "train/losses.h"

#include <c10/core/GradMode.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>

namespace matquant::train {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<model::QuantizedLinear> block_linears(model::DecoderModel& model, int64_t layer) {
  std::vector<model::QuantizedLinear> out;
  for (auto& [name, index, linear] : model->quantized_linears()) {
    if (index == layer) out.push_back(linear);
  }
  return out;
}

void set_block_precision(std::vector<model::QuantizedLinear>& linears, std::optional<int> bits) {
  for (auto& l : linears) l->set_precision(bits);
}

}  // namespace

CalibrationSummary calibrate_omniquant(model::DecoderModel& model, const at::Tensor& calibration,
                                       const OmniQuantConfig& config, const at::Device& device) {
  if (calibration.dim() != 2) throw_invalid("calibration data must be [samples, length]");
  const auto start = Clock::now();
  const at::Device home = model->embed_tokens.device();
  const at::Device storage = config.keep_activations_on_cpu ? at::Device(at::kCPU) : device;
  const int64_t n = calibration.size(0);
  const int64_t bs = std::min(config.batch_size, n);
  const int64_t batches = (n + bs - 1) / bs;
  for (auto& p : model->parameters()) p.set_requires_grad(false);

  CalibrationSummary summary;
  at::Tensor fp_stream;
  {
    c10::NoGradGuard no_grad;
    fp_stream = model->embed(calibration.to(home)).to(storage);
  }
  const auto& targets = config.objective.targets();
  std::map<int, at::Tensor> quant_streams;
  for (const auto& t : targets) quant_streams[t.bits] = fp_stream;
  const auto attention =
      model->prepare_attention({}, bs, calibration.size(1), fp_stream.scalar_type(), device);
  auto rows_of = [&](const at::Tensor& stream, int64_t b) {
    return stream.slice(0, b * bs, std::min(n, (b + 1) * bs));
  };
  auto batch_of = [&](const at::Tensor& stream, int64_t b) { return rows_of(stream, b).to(device); };
  // Batches are independent, so a stream that owns its memory takes each batch's block output in
  // place of its input: no second copy of the stream (2 GiB at 7B, 128 x 2048 tokens) at the peak.
  // All streams start as one tensor, which must not be overwritten until each has its own.
  auto owns_memory = [&](const at::Tensor& stream) {
    int holders = fp_stream.is_alias_of(stream) ? 1 : 0;
    for (const auto& entry : quant_streams) holders += entry.second.is_alias_of(stream) ? 1 : 0;
    return holders == 1;
  };
  auto store_batch = [&](const at::Tensor& stream, int64_t b, const at::Tensor& out) {
    return rows_of(stream, b).copy_(out);
  };

  for (auto& layer : model->layers) {
    const auto block_start = Clock::now();
    reset_peak_device_memory(device);
    layer->to(device);
    auto linears = block_linears(model, layer->index);
    const at::Tensor& mask = attention.mask_for(*layer, model->config());
    auto run = [&](const at::Tensor& x) {
      const at::Tensor m = mask.size(0) == x.size(0) ? mask : mask.slice(0, 0, x.size(0));
      return layer->forward(x, m, attention.cos, attention.sin);
    };
    const bool let = config.learnable_equivalent_transformation;
    // Full-precision targets of this block (and, with LET, the inputs' statistics that initialize
    // its scales, taken from the full-precision stream as OmniQuant's act_scales are).
    std::vector<at::Tensor> fp_out(static_cast<size_t>(batches));
    bool fp_in_place = false;  // fp_out are then views of fp_stream
    EquivalentTransformation transformation{nullptr};
    {
      c10::NoGradGuard no_grad;
      set_block_precision(linears, std::nullopt);
      if (let) EquivalentTransformationImpl::record_inputs(*layer, true);
      fp_in_place = owns_memory(fp_stream);
      for (int64_t b = 0; b < batches; ++b) {
        const at::Tensor out = run(batch_of(fp_stream, b));
        fp_out[size_t(b)] = fp_in_place ? store_batch(fp_stream, b, out) : out.to(storage);
      }
      if (let) {
        EquivalentTransformationImpl::record_inputs(*layer, false);
        transformation = EquivalentTransformation(*layer);
        if (config.let_smoothquant_init) transformation->initialize_scales(*layer);
      }
    }
    std::vector<at::Tensor> params;
    for (auto& l : linears) {
      if (!l->clipping) throw Error(ErrorCode::kInternal, "OmniQuant needs learnable clipping on every quantized layer");
      for (auto& p : l->clipping->parameters()) {
        p.set_requires_grad(true);
        params.push_back(p);
      }
    }
    BlockReport report;
    report.layer = layer->index;
    report.layers = int64_t(model->layers.size());
    std::vector<at::Tensor> let_params;
    if (let) {
      for (auto& p : transformation->parameters()) {
        p.set_requires_grad(true);
        let_params.push_back(p);
      }
    }
    if (!params.empty()) {
      // Two learning rates as in OmniQuant (quantize/omniquant.py): LET and clipping, no decay.
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back(params, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(config.clipping_learning_rate).weight_decay(0.0)));
      if (!let_params.empty()) {
        groups.emplace_back(let_params, std::make_unique<torch::optim::AdamWOptions>(
                                            torch::optim::AdamWOptions(config.let_learning_rate).weight_decay(0.0)));
      }
      torch::optim::AdamW optimizer(std::move(groups),
                                    torch::optim::AdamWOptions(config.clipping_learning_rate).weight_decay(0.0));
      for (int64_t epoch = 0; epoch < config.epochs && !summary.diverged; ++epoch) {
        std::map<int, double> epoch_loss;
        for (int64_t b = 0; b < batches; ++b) {
          optimizer.zero_grad();
          std::map<int, at::Tensor> teacher_out;
          const at::Tensor fp_target = fp_out[size_t(b)].to(device);
          for (const auto& t : targets) {
            set_block_precision(linears, t.bits);
            // The transformed weights are rebuilt for every forward: each backward frees its graph.
            if (let) transformation->apply(*layer);
            const at::Tensor out = run(batch_of(quant_streams[t.bits], b));
            at::Tensor loss;
            if (t.ground_truth) loss = block_output_loss(out, fp_target);
            if (t.teacher) {
              const at::Tensor kd = block_output_loss(out, teacher_out.at(*t.teacher));
              loss = loss.defined() ? 0.5 * (loss + kd) : kd;
            }
            for (const auto& other : targets) {
              if (other.teacher == t.bits) teacher_out[t.bits] = out.detach();
            }
            const double value = loss.item<double>();
            if (!std::isfinite(value)) {
              summary.diverged = true;
              break;
            }
            epoch_loss[t.bits] += value / double(batches);
            if (t.lambda != 0.0) (loss * t.lambda).backward();
          }
          if (summary.diverged) break;
          optimizer.step();
        }
        report.loss_by_bits = epoch_loss;
        report.epoch_losses.push_back(epoch_loss);
      }
    }
    for (auto& p : params) p.set_requires_grad(false);
    {
      c10::NoGradGuard no_grad;
      // Fold first, so the frozen codes quantize the transformed weights that were trained.
      if (let) transformation->fold(*layer);
      for (auto& l : linears) l->freeze_codes();
      for (auto& [bits, stream] : quant_streams) {
        set_block_precision(linears, bits);
        if (owns_memory(stream)) {
          for (int64_t b = 0; b < batches; ++b) store_batch(stream, b, run(batch_of(stream, b)));
          continue;
        }
        std::vector<at::Tensor> outs;
        for (int64_t b = 0; b < batches; ++b) outs.push_back(run(batch_of(stream, b)).to(storage));
        stream = at::cat(outs, 0);
      }
      if (!fp_in_place) fp_stream = at::cat(fp_out, 0);
      set_block_precision(linears, std::nullopt);
    }
    report.seconds = std::chrono::duration<double>(Clock::now() - block_start).count();
    report.peak_device_bytes = peak_device_memory(device);
    layer->to(home);
    for (auto& l : linears) l->load_codes(l->codes()->to(home));
    summary.blocks.push_back(report);
    if (config.on_block) config.on_block(report);
    if (summary.diverged) break;
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return summary;
}

}  // namespace matquant::train
