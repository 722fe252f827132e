#pragma once
// The pieces of one QAT step shared by the single-process trainer (qat_trainer.cpp) and the
// sharded one (sharded_qat_trainer.cpp): the rows of a batch, bf16 autocast, and the MatQuant
// objective's forward and backward passes over one micro-batch.
#include "model/decoder.h"
#include "train/objective.h"
#include "train/qat_trainer.h"

#include <torch/optim/adamw.h>

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace matquant::train {

// Rows first .. first+count-1 of `order` (wrapping), gathered from `sequences`.
at::Tensor batch_rows(const at::Tensor& sequences, const std::vector<int64_t>& order, int64_t first, int64_t count);

// bf16 autocast for the duration of a scope (CUDA only); fp32 master weights are untouched.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

// Restores a captured CUDA autocast state for a scope: a block recomputed in backward runs on
// autograd's threads, where the thread-local autocast state is off.
class AutocastScope {
 public:
  AutocastScope(bool enabled, at::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool previous_enabled_;
  at::ScalarType previous_dtype_;
};

// Forward and backward of every precision of the objective (or of the full-precision model when
// quantize is false) on inputs/labels [B, T], gradients scaled by `scale` (1 / accumulation) and
// accumulated into the parameters. Returns (bits or 0, loss * scale) detached, still on the device.
std::vector<std::pair<int, at::Tensor>> backward_objective(model::DecoderModel& model, const Objective& objective,
                                                           bool quantize, const at::Tensor& inputs,
                                                           const at::Tensor& labels, double scale);

// A step's passes: `rows` ([micro_batch * accumulation, T + 1] token ids on the model's device)
// split into `accumulation` micro-batches, each through backward_objective with scale
// 1 / accumulation. Returns every pass's (bits or 0, scaled loss), on the device.
std::vector<std::pair<int, at::Tensor>> step_passes(model::DecoderModel& model, const Objective& objective,
                                                    bool quantize, const at::Tensor& rows, int64_t micro_batch,
                                                    int64_t accumulation);

// Sets step `step`'s (0-based) learning rate on every group, clears the gradients (unless a
// captured step owns them: CapturedObjectivePasses) and starts the step's report.
StepReport start_step(torch::optim::AdamW& optimizer, const LearningRateSchedule& schedule, int64_t step,
                      int64_t total, bool clear_gradients = true);
// After the update (`steps_done` = step + 1): tokens and seconds so far; appended to `curve`.
void record_step(StepReport& report, int64_t steps_done, int64_t tokens_per_step,
                 std::chrono::steady_clock::time_point start, std::vector<StepReport>& curve);

// Whether a resumable state is written after `steps_done` steps (every save_every, and at the end).
bool state_due(const QatConfig& config, int64_t steps_done);
// After the last step: the model back to full precision and evaluation mode, the summary's totals.
void finish_training(model::DecoderModel& model, TrainingSummary& summary, int64_t steps_done, int64_t tokens_per_step,
                     std::chrono::steady_clock::time_point start);

// The step's losses summed per precision with one host copy; false in `finite` if any is NaN/Inf.
std::map<int, double> sum_losses(const std::vector<std::pair<int, at::Tensor>>& losses, bool& finite);

}  // namespace matquant::train
