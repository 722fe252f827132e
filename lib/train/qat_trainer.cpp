#include "train/qat_trainer.h"

#include "train/fused_optimizer_step.h"

#include "common/error.h"
#include "data/token_batches.h"
#include "train/activation_checkpoint.h"
#include "train/sharded_qat_trainer.h"
#include "train/training_step.h"
#include "train/training_state.h"

#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace matquant::train {

namespace {

// Activation checkpointing for the duration of training, removed however train_qat exits.
class CheckpointingScope {
 public:
  CheckpointingScope(model::DecoderModel& model, bool on) : model_(model), on_(on) {
    if (on_) set_activation_checkpointing(model_, true);
  }
  ~CheckpointingScope() {
    if (on_) set_activation_checkpointing(model_, false);
  }
  CheckpointingScope(const CheckpointingScope&) = delete;
  CheckpointingScope& operator=(const CheckpointingScope&) = delete;

 private:
  model::DecoderModel& model_;
  bool on_;
};

}  // namespace

TrainingSummary train_qat(model::DecoderModel& model, const at::Tensor& sequences, const QatConfig& config) {
  if (sequences.dim() != 2 || sequences.size(1) < 2) throw_invalid("training sequences must be [N, T+1]");
  if (config.communicator || config.offload_optimizer_state) return train_qat_sharded(model, sequences, config);
  const at::Device device = model->embed_tokens.device();
  const int64_t rows = sequences.size(0);
  const int64_t micro = config.batch_size;
  const int64_t per_step = micro * config.gradient_accumulation;
  const int64_t total = config.schedule.total_steps;
  model->train();
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(config.schedule.peak).weight_decay(config.weight_decay));

  TrainingSummary summary;
  int64_t step = 0;
  if (!config.state_dir.empty()) {
    if (auto resumed = load_training_state(config.state_dir, model, optimizer)) {
      step = resumed->step;
      summary.curve = resumed->curve;
      summary.resumed = true;
    }
  }
  const CheckpointingScope checkpointing(model, config.activation_checkpointing);
  const auto start = std::chrono::steady_clock::now();
  const int64_t tokens_per_step = per_step * (sequences.size(1) - 1);
  while (step < total) {
    StepReport report = start_step(optimizer, config.schedule, step, total);
    // Epoch order reshuffled per pass over the data, keyed by seed and epoch.
    const int64_t first = step * per_step;
    const auto order = data::shuffled_order(rows, config.seed + uint64_t(first / rows));
    const Bf16Autocast autocast(config.bf16_autocast && device.is_cuda());
    // Losses stay on the device until the step's end: one host sync per step, not one per
    // precision. A non-finite loss still stops training before the optimizer step.
    std::vector<std::pair<int, at::Tensor>> step_losses;  // (bits or 0, loss * 1/accumulation)
    const double scale = 1.0 / double(config.gradient_accumulation);
    for (int64_t m = 0; m < config.gradient_accumulation; ++m) {
      const at::Tensor batch = batch_rows(sequences, order, (first + m * micro) % rows, micro).to(device);
      auto losses = backward_objective(model, config.objective, config.quantize, batch.slice(1, 0, -1),
                                       batch.slice(1, 1), scale);
      step_losses.insert(step_losses.end(), losses.begin(), losses.end());
    }
    bool finite = true;
    report.loss_by_bits = sum_losses(step_losses, finite);
    if (!finite) {
      summary.diverged = true;
      summary.curve.push_back(report);
      break;
    }
    clip_gradients(model->parameters(), config.gradient_clip);
    adamw_step(optimizer);  // fused on CUDA (train/fused_optimizer_step.h)
    ++step;
    record_step(report, step, tokens_per_step, start, summary.curve);
    if (state_due(config, step)) save_training_state(config.state_dir, model, optimizer, TrainingProgress{step, summary.curve});
    if (config.on_step) config.on_step(report);
  }
  finish_training(model, summary, step, tokens_per_step, start);
  return summary;
}

}  // namespace matquant::train
