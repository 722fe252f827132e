#include "train/qat_trainer.h"

#include "train/fused_optimizer_step.h"

#include "common/error.h"
#include "data/token_batches.h"
#include "train/activation_checkpoint.h"
#include "train/losses.h"
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

at::Tensor batch_rows(const at::Tensor& sequences, const std::vector<int64_t>& order, int64_t first,
                      int64_t count) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < count; ++i) rows.push_back(order[size_t((first + i) % int64_t(order.size()))]);
  return sequences.index_select(0, at::tensor(rows, at::kLong));
}

// bf16 autocast for the duration of a scope (CUDA only); fp32 master weights are untouched.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    previous_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~Bf16Autocast() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, previous_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

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
  const auto& targets = config.objective.targets();
  while (step < total) {
    const double lr = learning_rate_at(config.schedule, step);
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    }
    optimizer.zero_grad();
    // Epoch order reshuffled per pass over the data, keyed by seed and epoch.
    const int64_t first = step * per_step;
    const auto order = data::shuffled_order(rows, config.seed + uint64_t(first / rows));
    StepReport report;
    report.step = step + 1;
    report.total_steps = total;
    report.learning_rate = lr;
    const Bf16Autocast autocast(config.bf16_autocast && device.is_cuda());
    // Losses stay on the device until the step's end: one host sync per step, not one per
    // precision. A non-finite loss still stops training before the optimizer step.
    std::vector<std::pair<int, at::Tensor>> step_losses;  // (bits or 0, loss * 1/accumulation)
    const double scale = 1.0 / double(config.gradient_accumulation);
    for (int64_t m = 0; m < config.gradient_accumulation; ++m) {
      const at::Tensor batch = batch_rows(sequences, order, (first + m * micro) % rows, micro).to(device);
      const at::Tensor inputs = batch.slice(1, 0, -1);
      const at::Tensor labels = batch.slice(1, 1);
      if (!config.quantize) {
        model->set_precision(std::nullopt);
        const at::Tensor loss = model->token_nll(inputs, labels).mean();
        step_losses.emplace_back(0, loss.detach() * scale);
        (loss * scale).backward();
        continue;
      }
      std::map<int, at::Tensor> teacher_log_probs;
      for (const auto& target : targets) {
        if (target.lambda == 0.0 && !config.objective.uses_distillation()) continue;
        model->set_precision(quant::PrecisionPlan::uniform(target.bits));
        const bool is_teacher = std::any_of(targets.begin(), targets.end(),
                                            [&](const auto& other) { return other.teacher == target.bits; });
        at::Tensor loss;
        if (!target.teacher && !is_teacher) {
          // Ground truth only: the fused cross-entropy path never materialises fp32 logits.
          loss = model->token_nll(inputs, labels).mean();
        } else {
          const at::Tensor logits = model->forward(inputs);
          if (target.ground_truth) loss = next_token_loss(logits, labels);
          if (target.teacher) {
            const at::Tensor kl = distillation_loss(logits, teacher_log_probs.at(*target.teacher));
            loss = loss.defined() ? 0.5 * (loss + kl) : kl;
          }
          // Keep this precision's distribution if a student distills from it.
          if (is_teacher) teacher_log_probs[target.bits] = at::log_softmax(logits.detach().to(at::kFloat), -1);
        }
        step_losses.emplace_back(target.bits, loss.detach() * scale);
        if (target.lambda != 0.0) (loss * (target.lambda * scale)).backward();
      }
    }
    bool finite = true;
    if (!step_losses.empty()) {
      std::vector<at::Tensor> values;
      for (const auto& entry : step_losses) values.push_back(entry.second.to(at::kDouble).reshape({}));
      const at::Tensor host = at::stack(values).cpu();
      const double* read = host.data_ptr<double>();
      for (size_t i = 0; i < step_losses.size(); ++i) {
        report.loss_by_bits[step_losses[i].first] += read[i];
        finite = finite && std::isfinite(read[i]);
      }
    }
    if (!finite) {
      summary.diverged = true;
      summary.curve.push_back(report);
      break;
    }
    clip_gradients(model->parameters(), config.gradient_clip);
    adamw_step(optimizer);  // fused on CUDA (train/fused_optimizer_step.h)
    ++step;
    report.tokens_seen = step * tokens_per_step;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    summary.curve.push_back(report);
    const bool save_now = config.save_every > 0 && step % config.save_every == 0;
    if (!config.state_dir.empty() && (save_now || step == total)) {
      save_training_state(config.state_dir, model, optimizer, TrainingProgress{step, summary.curve});
    }
    if (config.on_step) config.on_step(report);
  }
  model->set_precision(std::nullopt);
  model->eval();
  summary.steps = step;
  summary.tokens = step * tokens_per_step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace matquant::train
