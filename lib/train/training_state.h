#pragma once
// Resumable training state: model parameters (including learned clipping), optimizer moments and
// the loss curve, written as STATE_DIR/step-N/ and published by atomically replacing
// STATE_DIR/latest, so a run killed at any moment resumes from the last complete state.
#include "model/decoder.h"
#include "train/qat_trainer.h"

#include <torch/optim/optimizer.h>

#include <optional>
#include <string>

namespace matquant::train {

struct TrainingProgress {
  int64_t step = 0;
  std::vector<StepReport> curve;
};

void save_training_state(const std::string& state_dir, model::DecoderModel& model,
                         torch::optim::Optimizer& optimizer, const TrainingProgress& progress);
// nullopt when STATE_DIR holds no complete state.
std::optional<TrainingProgress> load_training_state(const std::string& state_dir, model::DecoderModel& model,
                                                    torch::optim::Optimizer& optimizer);

}  // namespace matquant::train
