#include "plan_memory.h"

#include "common/error.h"
#include "model/initialization.h"
#include "quant/precision_label.h"
#include "sweep/memory_estimate.h"
#include "sweep/run_keys.h"

#include <ATen/cuda/CUDAContext.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <boost/filesystem.hpp>
#include <fstream>
#include <set>

namespace matquant::apps {

namespace {

constexpr double kGiB = double(1ull << 30);
const std::string kBuiltin = "builtin:";

// The shape of a run's model: a built-in preset's config or the directory's config.json.
std::optional<sweep::ModelShape> shape_of(const std::string& model) {
  try {
    if (model.rfind(kBuiltin, 0) == 0) {
      return sweep::model_shape_from_config(model::builtin_config(model.substr(kBuiltin.size())));
    }
    std::ifstream in((boost::filesystem::path(model) / "config.json").string());
    if (!in) return std::nullopt;
    return sweep::model_shape_from_config(nlohmann::json::parse(in));
  } catch (const std::exception&) {  // the plan's own checks report a broken model
    return std::nullopt;
  }
}

struct Estimated {
  std::string run;
  nlohmann::json spec;
  sweep::TrainingMemoryEstimate estimate;
};

// Distinct QAT training jobs with a known shape, in plan order.
std::vector<Estimated> estimates(const sweep::SweepPlan& plan) {
  std::vector<Estimated> out;
  std::set<std::string> seen;
  for (const auto& run : plan.runs) {
    if (run.spec.value("base", "qat") != "qat") continue;
    bool trains = false;  // a run evaluating only bf16/fp32/rtn:FORMAT has no training job
    for (const auto& p : run.spec["eval"].value("precisions", nlohmann::json::array())) {
      trains = trains || quant::needs_training(p.get<std::string>());
    }
    if (!trains) continue;
    if (!seen.insert(sweep::train_job_key(run.spec)).second) continue;
    const auto shape = shape_of(run.spec.value("model", ""));
    if (!shape || shape->hidden <= 0 || shape->layers <= 0) continue;
    out.push_back({run.name, run.spec, sweep::estimate_qat_memory(*shape, run.spec)});
  }
  return out;
}

// GiB with one decimal, or MiB below one GiB (the tiny built-in models need a few MiB).
std::string size_text(double bytes) {
  return bytes >= kGiB ? fmt::format("{:.1f} GiB", bytes / kGiB) : fmt::format("{:.0f} MiB", bytes / (1 << 20));
}

std::string settings(const nlohmann::json& spec) {
  const int gpus = spec.value("resources", nlohmann::json::object()).value("gpus", 1);
  const auto& train = spec.value("train", nlohmann::json::object());
  std::string text = fmt::format("{} GPU(s), batch {} x {}", gpus, train.value("batch_size", int64_t(0)),
                                 train.value("seq_len", int64_t(0)));
  if (train.value("offload_optimizer_state", false)) text += ", moments on the host";
  if (gpus == 1 && !train.value("offload_optimizer_state", false) && train.value("activation_checkpointing", false)) {
    text += train.value("activation_checkpointing_policy", std::string("full")) == "selective" ? ", selective checkpointing"
                                                                                               : ", checkpointing";
  }
  return text;
}

}  // namespace

std::string render_memory_estimates(const sweep::SweepPlan& plan) {
  const auto rows = estimates(plan);
  if (rows.empty()) return "";
  std::string out = "estimated peak GPU memory per training job (docs/training.md \"Memory\"):\n";
  for (const auto& r : rows) {
    out += fmt::format("  {:<40} {:>10} per GPU ({} weights, gradients, moments; {} activations; {})\n", r.run,
                       size_text(r.estimate.bytes), size_text(r.estimate.state_bytes),
                       size_text(r.estimate.activation_bytes), settings(r.spec));
  }
  return out;
}

void refuse_runs_over_memory(const sweep::SweepPlan& plan, double capacity_gib) {
  std::string problems;
  for (const auto& r : estimates(plan)) {
    const double need = r.estimate.bytes / kGiB;
    if (need <= capacity_gib) continue;
    problems += fmt::format("{}run {} needs about {:.1f} GiB per GPU ({}), the GPUs have {:.1f} GiB", problems.empty() ? "" : "; ",
                            r.run, need, settings(r.spec), capacity_gib);
  }
  if (problems.empty()) return;
  throw Error(ErrorCode::kInvalidInput,
              problems + "; to fit, set train.activation_checkpointing: true, train.offload_optimizer_state: true, "
                         "resources.gpus: N or a smaller train.batch_size (or --gpu-memory GIB if the estimate is wrong "
                         "for these GPUs)");
}

std::optional<double> local_gpu_memory_gib() {
  if (!torch::cuda::is_available()) return std::nullopt;
  return double(at::cuda::getDeviceProperties(0)->totalGlobalMem) / kGiB;
}

}  // namespace matquant::apps
