#include "train/sharded_qat_trainer.h"

#include "common/device_memory.h"
#include "common/error.h"
#include "data/token_batches.h"
#include "train/fused_optimizer_step.h"
#include "train/sharded_model.h"
#include "train/training_state.h"
#include "train/training_step.h"

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <boost/filesystem.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>

namespace matquant::train {

namespace {

namespace fs = boost::filesystem;

std::string rank_file(const distributed::Communicator& communicator) {
  return fmt::format("rank-{}-of-{}.pt", communicator.rank(), communicator.world_size());
}

void save_sharded_state(const std::string& state_dir, ShardedModel& sharded, torch::optim::AdamW& optimizer,
                        const TrainingProgress& progress, distributed::Communicator& communicator) {
  synchronize_device(sharded.masters().front().device());  // offloaded moments copied back to the host
  const std::string name = "step-" + std::to_string(progress.step);
  const fs::path dir = fs::path(state_dir) / name;
  fs::create_directories(dir);
  torch::serialize::OutputArchive archive;
  const auto masters = sharded.masters();
  for (size_t i = 0; i < masters.size(); ++i) archive.write("master." + std::to_string(i), masters[i]);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.save_to((dir / rank_file(communicator)).string());
  if (communicator.rank() == 0) std::ofstream(dir / "progress.json") << progress_to_json(progress).dump();
  communicator.barrier();  // every rank's file is complete before `latest` names the step
  if (communicator.rank() == 0) publish_state_step(state_dir, name);
  communicator.barrier();
}

std::optional<TrainingProgress> load_sharded_state(const std::string& state_dir, ShardedModel& sharded,
                                                   torch::optim::AdamW& optimizer,
                                                   distributed::Communicator& communicator) {
  const auto name = latest_state_step(state_dir);
  if (!name) return std::nullopt;
  const fs::path dir = fs::path(state_dir) / *name;
  const fs::path file = dir / rank_file(communicator);
  if (!fs::exists(file)) {
    throw_invalid(fmt::format("training state {} was not saved by {} processes (no {}); resume with the process "
                              "count it was saved with",
                              dir.string(), communicator.world_size(), file.filename().string()));
  }
  try {
    auto masters = sharded.masters();
    torch::serialize::InputArchive archive;
    archive.load_from(file.string(), masters.front().device());
    const c10::NoGradGuard no_grad;
    for (size_t i = 0; i < masters.size(); ++i) {
      at::Tensor saved;
      archive.read("master." + std::to_string(i), saved);
      masters[i].copy_(saved);
    }
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    std::ifstream progress_file(dir / "progress.json");
    return progress_from_json(nlohmann::json::parse(progress_file));
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidInput, "training state " + file.string() + " is unreadable: " + e.what());
  }
}

// The step's losses averaged over ranks, per precision, with one host copy.
std::map<int, double> mean_losses(const std::vector<std::pair<int, at::Tensor>>& losses,
                                  distributed::Communicator& communicator, bool& finite) {
  finite = true;
  if (losses.empty()) return {};
  std::vector<at::Tensor> values;
  for (const auto& entry : losses) values.push_back(entry.second.to(at::kDouble).reshape({}));
  at::Tensor all = at::stack(values);
  communicator.all_reduce_sum(all);
  all = all / double(communicator.world_size());
  std::vector<std::pair<int, at::Tensor>> averaged;
  for (size_t i = 0; i < losses.size(); ++i) averaged.emplace_back(losses[i].first, all[int64_t(i)]);
  return sum_losses(averaged, finite);
}

}  // namespace

TrainingSummary train_qat_sharded(model::DecoderModel& model, const at::Tensor& sequences, const QatConfig& config) {
  const auto owned = config.communicator ? config.communicator : distributed::single_process_communicator();
  auto& communicator = *owned;
  const int64_t world = communicator.world_size();
  const int64_t rank = communicator.rank();
  if (config.batch_size % world != 0) {
    throw_invalid(fmt::format("train.batch_size {} does not split evenly over {} processes", config.batch_size, world));
  }
  const at::Device device = config.shard_device.value_or(model->embed_tokens.device());
  const int64_t rows = sequences.size(0);
  const int64_t micro = config.batch_size;
  const int64_t local = micro / world;
  const int64_t per_step = micro * config.gradient_accumulation;
  const int64_t total = config.schedule.total_steps;
  model->train();
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  ShardedModel sharded(model, communicator, device);
  torch::optim::AdamW optimizer(sharded.masters(),
                                torch::optim::AdamWOptions(config.schedule.peak).weight_decay(config.weight_decay));

  TrainingSummary summary;
  int64_t step = 0;
  if (!config.state_dir.empty()) {
    if (auto resumed = load_sharded_state(config.state_dir, sharded, optimizer, communicator)) {
      step = resumed->step;
      summary.curve = resumed->curve;
      summary.resumed = true;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t tokens_per_step = per_step * (sequences.size(1) - 1);
  while (step < total) {
    StepReport report = start_step(optimizer, config.schedule, step, total);
    const int64_t first = step * per_step;
    const auto order = data::shuffled_order(rows, config.seed + uint64_t(first / rows));
    std::vector<std::pair<int, at::Tensor>> step_losses;
    {
      const Bf16Autocast autocast(config.bf16_autocast && device.is_cuda());
      const double scale = 1.0 / double(config.gradient_accumulation);
      sharded.begin_step();
      for (int64_t m = 0; m < config.gradient_accumulation; ++m) {
        const at::Tensor batch =
            batch_rows(sequences, order, (first + m * micro + rank * local) % rows, local).to(device);
        auto losses = backward_objective(model, config.objective, config.quantize, batch.slice(1, 0, -1),
                                         batch.slice(1, 1), scale);
        step_losses.insert(step_losses.end(), losses.begin(), losses.end());
      }
      sharded.end_step();
    }
    bool finite = true;
    report.loss_by_bits = mean_losses(step_losses, communicator, finite);
    if (!finite) {
      summary.diverged = true;
      summary.curve.push_back(report);
      break;
    }
    clip_sharded_gradients(sharded.masters(), config.gradient_clip, communicator);
    adamw_step(optimizer, config.offload_optimizer_state);  // fused on CUDA
    ++step;
    record_step(report, step, tokens_per_step, start, summary.curve);
    if (state_due(config, step)) save_sharded_state(config.state_dir, sharded, optimizer, TrainingProgress{step, summary.curve}, communicator);
    if (config.on_step) config.on_step(report);
  }
  sharded.gather_all();
  finish_training(model, summary, step, tokens_per_step, start);
  return summary;
}

}  // namespace matquant::train
