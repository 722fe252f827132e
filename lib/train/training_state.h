#pragma once
// Resumable training state: model parameters (including learned clipping), optimizer moments and
// the loss curve, written as STATE_DIR/step-N/ and published by atomically replacing
// STATE_DIR/latest, so a run killed at any moment resumes from the last complete state.
#include "model/decoder.h"
#include "train/qat_trainer.h"

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include <optional>
#include <string>

namespace matquant::train {

struct TrainingProgress {
  int64_t step = 0;
  std::vector<StepReport> curve;
};

// The progress file's JSON, and the step directory `latest` names (nullopt: no complete state).
nlohmann::json progress_to_json(const TrainingProgress& progress);
TrainingProgress progress_from_json(const nlohmann::json& json);
std::optional<std::string> latest_state_step(const std::string& state_dir);
// Points STATE_DIR/latest at `step_dir_name` (atomic rename) and removes the state it replaced.
void publish_state_step(const std::string& state_dir, const std::string& step_dir_name);

void save_training_state(const std::string& state_dir, model::DecoderModel& model,
                         torch::optim::Optimizer& optimizer, const TrainingProgress& progress);
// nullopt when STATE_DIR holds no complete state.
std::optional<TrainingProgress> load_training_state(const std::string& state_dir, model::DecoderModel& model,
                                                    torch::optim::Optimizer& optimizer);

}  // namespace matquant::train
