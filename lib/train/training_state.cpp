#include "train/training_state.h"

#include "common/error.h"

#include <nlohmann/json.hpp>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <boost/filesystem.hpp>
#include <fstream>

namespace matquant::train {

namespace fs = boost::filesystem;

namespace {

nlohmann::json curve_to_json(const std::vector<StepReport>& curve) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : curve) {
    nlohmann::json losses = nlohmann::json::object();
    for (const auto& [bits, loss] : r.loss_by_bits) losses[std::to_string(bits)] = loss;
    out.push_back({{"step", r.step}, {"lr", r.learning_rate}, {"tokens", r.tokens_seen},
                   {"seconds", r.seconds}, {"loss", losses}});
  }
  return out;
}

std::vector<StepReport> curve_from_json(const nlohmann::json& json) {
  std::vector<StepReport> curve;
  for (const auto& item : json) {
    StepReport r;
    r.step = item.at("step").get<int64_t>();
    r.learning_rate = item.at("lr").get<double>();
    r.tokens_seen = item.at("tokens").get<int64_t>();
    r.seconds = item.at("seconds").get<double>();
    for (const auto& [bits, loss] : item.at("loss").items()) r.loss_by_bits[std::stoi(bits)] = loss.get<double>();
    curve.push_back(r);
  }
  return curve;
}

}  // namespace

nlohmann::json progress_to_json(const TrainingProgress& progress) {
  return {{"step", progress.step}, {"curve", curve_to_json(progress.curve)}};
}

TrainingProgress progress_from_json(const nlohmann::json& json) {
  return TrainingProgress{json.at("step").get<int64_t>(), curve_from_json(json.at("curve"))};
}

std::optional<std::string> latest_state_step(const std::string& state_dir) {
  const fs::path latest = fs::path(state_dir) / "latest";
  if (!fs::exists(latest)) return std::nullopt;
  std::string name;
  std::ifstream(latest) >> name;
  return name;
}

void publish_state_step(const std::string& state_dir, const std::string& step_dir_name) {
  const fs::path latest = fs::path(state_dir) / "latest";
  const std::string previous = latest_state_step(state_dir).value_or("");
  std::ofstream(latest.string() + ".tmp") << step_dir_name;
  fs::rename(latest.string() + ".tmp", latest);
  if (!previous.empty() && previous != step_dir_name) fs::remove_all(fs::path(state_dir) / previous);
}

void save_training_state(const std::string& state_dir, model::DecoderModel& model,
                         torch::optim::Optimizer& optimizer, const TrainingProgress& progress) {
  const fs::path dir = fs::path(state_dir) / ("step-" + std::to_string(progress.step));
  fs::create_directories(dir);
  {
    torch::serialize::OutputArchive archive;
    model->save(archive);
    archive.save_to((dir / "model.pt").string());
  }
  {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to((dir / "optimizer.pt").string());
  }
  std::ofstream(dir / "progress.json") << progress_to_json(progress).dump();
  publish_state_step(state_dir, dir.filename().string());
}

std::optional<TrainingProgress> load_training_state(const std::string& state_dir, model::DecoderModel& model,
                                                    torch::optim::Optimizer& optimizer) {
  const auto name = latest_state_step(state_dir);
  if (!name) return std::nullopt;
  const fs::path dir = fs::path(state_dir) / *name;
  try {
    torch::serialize::InputArchive model_archive;
    model_archive.load_from((dir / "model.pt").string(), model->embed_tokens.device());
    model->load(model_archive);
    torch::serialize::InputArchive optimizer_archive;
    optimizer_archive.load_from((dir / "optimizer.pt").string(), model->embed_tokens.device());
    optimizer.load(optimizer_archive);
    std::ifstream progress_file(dir / "progress.json");
    const nlohmann::json progress = nlohmann::json::parse(progress_file);
    return progress_from_json(progress);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidInput, "training state " + dir.string() + " is unreadable: " + e.what());
  }
}

}  // namespace matquant::train
