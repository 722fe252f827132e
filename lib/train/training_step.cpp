#include "train/training_step.h"

#include "kernels/master_weight_ops.h"
#include "train/losses.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>

namespace matquant::train {

at::Tensor batch_rows(const at::Tensor& sequences, const std::vector<int64_t>& order, int64_t first, int64_t count) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < count; ++i) rows.push_back(order[size_t((first + i) % int64_t(order.size()))]);
  return sequences.index_select(0, at::tensor(rows, at::kLong));
}

Bf16Autocast::Bf16Autocast(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  previous_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, previous_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
  at::autocast::clear_cache();
}

AutocastScope::AutocastScope(bool enabled, at::ScalarType dtype)
    : previous_enabled_(at::autocast::is_autocast_enabled(at::kCUDA)),
      previous_dtype_(at::autocast::get_autocast_dtype(at::kCUDA)) {
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
}

AutocastScope::~AutocastScope() {
  at::autocast::set_autocast_enabled(at::kCUDA, previous_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
}

std::vector<std::pair<int, at::Tensor>> backward_objective(model::DecoderModel& model, const Objective& objective,
                                                           bool quantize, const at::Tensor& inputs,
                                                           const at::Tensor& labels, double scale) {
  std::vector<std::pair<int, at::Tensor>> losses;
  if (!quantize) {
    model->set_precision(std::nullopt);
    const at::Tensor loss = model->token_nll(inputs, labels).mean();
    losses.emplace_back(0, loss.detach() * scale);
    (loss * scale).backward();
    return losses;
  }
  const auto& targets = objective.targets();
  auto runs = [&](const auto& target) { return target.lambda != 0.0 || objective.uses_distillation(); };
  // The precisions share each weight's c-bit quantization range: computed once, reused by the others.
  // Without a layer runner (activation checkpointing, sharding), the first precision's pass also
  // writes the others' bf16 weights: extra bf16 copies held, so each fp32 weight is read once.
  std::vector<int> prepared_bits;
  if (!model->has_layer_runner()) {
    for (const auto& target : targets) {
      if (runs(target)) prepared_bits.push_back(target.bits);
    }
  }
  const kernels::WeightRangeScope shared_ranges(prepared_bits.size() > 1 ? prepared_bits : std::vector<int>{});
  // Under the same condition, each quantized weight's gradients of the precisions' backward passes
  // are added to its fp32 gradient in one pass, after the last of them.
  const auto backward_passes = std::count_if(targets.begin(), targets.end(), [&](const auto& target) {
    return runs(target) && target.lambda != 0.0;
  });
  kernels::DeferredGradientScope deferred_gradients(prepared_bits.size() > 1 ? int(backward_passes) : 0);
  std::map<int, at::Tensor> teacher_log_probs;
  for (const auto& target : targets) {
    if (!runs(target)) continue;
    model->set_precision(quant::PrecisionPlan::uniform(target.bits));
    const bool is_teacher =
        std::any_of(targets.begin(), targets.end(), [&](const auto& other) { return other.teacher == target.bits; });
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
    losses.emplace_back(target.bits, loss.detach() * scale);
    if (target.lambda != 0.0) (loss * (target.lambda * scale)).backward();
  }
  deferred_gradients.flush();
  return losses;
}

std::vector<std::pair<int, at::Tensor>> step_passes(model::DecoderModel& model, const Objective& objective,
                                                    bool quantize, const at::Tensor& rows, int64_t micro_batch,
                                                    int64_t accumulation) {
  std::vector<std::pair<int, at::Tensor>> all;
  const double scale = 1.0 / double(accumulation);
  for (int64_t m = 0; m < accumulation; ++m) {
    const at::Tensor batch = rows.slice(0, m * micro_batch, (m + 1) * micro_batch);
    auto losses = backward_objective(model, objective, quantize, batch.slice(1, 0, -1), batch.slice(1, 1), scale);
    all.insert(all.end(), losses.begin(), losses.end());
  }
  return all;
}

StepReport start_step(torch::optim::AdamW& optimizer, const LearningRateSchedule& schedule, int64_t step,
                      int64_t total, bool clear_gradients) {
  const double lr = learning_rate_at(schedule, step);
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  if (clear_gradients) optimizer.zero_grad();
  StepReport report;
  report.step = step + 1;
  report.total_steps = total;
  report.learning_rate = lr;
  return report;
}

void record_step(StepReport& report, int64_t steps_done, int64_t tokens_per_step,
                 std::chrono::steady_clock::time_point start, std::vector<StepReport>& curve) {
  report.tokens_seen = steps_done * tokens_per_step;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  curve.push_back(report);
}

bool state_due(const QatConfig& config, int64_t steps_done) {
  if (config.state_dir.empty()) return false;
  return (config.save_every > 0 && steps_done % config.save_every == 0) || steps_done == config.schedule.total_steps;
}

void finish_training(model::DecoderModel& model, TrainingSummary& summary, int64_t steps_done, int64_t tokens_per_step,
                     std::chrono::steady_clock::time_point start) {
  model->set_precision(std::nullopt);
  model->eval();
  summary.steps = steps_done;
  summary.tokens = steps_done * tokens_per_step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::map<int, double> sum_losses(const std::vector<std::pair<int, at::Tensor>>& losses, bool& finite) {
  std::map<int, double> by_bits;
  finite = true;
  if (losses.empty()) return by_bits;
  std::vector<at::Tensor> values;
  for (const auto& entry : losses) values.push_back(entry.second.to(at::kDouble).reshape({}));
  const at::Tensor host = at::stack(values).cpu();
  const double* read = host.data_ptr<double>();
  for (size_t i = 0; i < losses.size(); ++i) {
    by_bits[losses[i].first] += read[i];
    finite = finite && std::isfinite(read[i]);
  }
  return by_bits;
}

}  // namespace matquant::train
