#include "train/qat_trainer.h"

#include "train/fused_optimizer_step.h"

#include "train/captured_objective.h"

#include "common/error.h"
#include "data/token_batches.h"
#include "train/activation_checkpoint.h"
#include "train/sharded_qat_trainer.h"
#include "train/training_step.h"
#include "train/training_state.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <c10/core/GradMode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

namespace matquant::train {

namespace {

// Activation checkpointing for the duration of training, removed however train_qat exits.
class CheckpointingScope {
 public:
  CheckpointingScope(model::DecoderModel& model, bool on, bool selective) : model_(model), on_(on) {
    if (on_) set_activation_checkpointing(model_, true, selective);
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
  if (config.communicator || config.offload_optimizer_state) {
    if (config.selective_checkpointing) {
      throw_invalid("selective activation checkpointing applies to single-process QAT (the sharded trainer "
                    "recomputes whole blocks)");
    }
    return train_qat_sharded(model, sequences, config);
  }
  if (config.selective_checkpointing && !config.activation_checkpointing) {
    throw_invalid("selective checkpointing needs activation checkpointing on");
  }
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
  const CheckpointingScope checkpointing(model, config.activation_checkpointing, config.selective_checkpointing);
  const auto start = std::chrono::steady_clock::now();
  const int64_t tokens_per_step = per_step * (sequences.size(1) - 1);
  // The step's passes as one CUDA graph when asked for and possible; a capture that fails (an
  // operation graphs cannot hold) leaves the eager loop to carry on.
  std::unique_ptr<CapturedObjectivePasses> captured;
  if (config.cuda_graph && objective_capture_available(model)) {
    captured = std::make_unique<CapturedObjectivePasses>(model, config.objective, config.quantize, micro,
                                                         config.gradient_accumulation,
                                                         config.bf16_autocast && device.is_cuda());
  }
  while (step < total) {
    StepReport report = start_step(optimizer, config.schedule, step, total, /*clear_gradients=*/!captured);
    // Epoch order reshuffled per pass over the data, keyed by seed and epoch.
    const int64_t first = step * per_step;
    const auto order = data::shuffled_order(rows, config.seed + uint64_t(first / rows));
    const at::Tensor step_rows = batch_rows(sequences, order, first % rows, per_step);
    // Losses stay on the device until the step's end: one host sync per step, not one per
    // precision. A non-finite loss still stops training before the optimizer step.
    std::vector<std::pair<int, at::Tensor>> step_losses;  // (bits or 0, loss * 1/accumulation)
    if (captured) {
      try {
        step_losses = captured->run(step_rows);
      } catch (const CaptureFailed& failure) {
        fmt::print(stderr, "matquant: the training step could not be captured as a CUDA graph, so it runs "
                           "without one: {}\n", failure.what());
        captured.reset();
        optimizer.zero_grad();
      }
    }
    if (!captured) {
      const Bf16Autocast autocast(config.bf16_autocast && device.is_cuda());
      step_losses = step_passes(model, config.objective, config.quantize, step_rows.to(device), micro,
                                config.gradient_accumulation);
    }
    bool finite = true;
    report.loss_by_bits = sum_losses(step_losses, finite);
    if (!finite) {
      summary.diverged = true;
      summary.curve.push_back(report);
      break;
    }
    // Clipped and fused on CUDA (train/fused_optimizer_step.h); the optimizer holds every parameter.
    adamw_step(optimizer, /*offload_state=*/false, config.gradient_clip);
    ++step;
    record_step(report, step, tokens_per_step, start, summary.curve);
    if (state_due(config, step)) save_training_state(config.state_dir, model, optimizer, TrainingProgress{step, summary.curve});
    if (config.on_step) config.on_step(report);
  }
  summary.cuda_graph = captured != nullptr;
  // The gradients live in the graph's pool; dropping them and the graph frees that memory (eager
  // steps leave the last gradients on the parameters, a captured run does not).
  if (captured) captured->release();
  finish_training(model, summary, step, tokens_per_step, start);
  return summary;
}

}  // namespace matquant::train
