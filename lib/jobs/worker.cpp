#include "jobs/worker.h"

#include "distributed/local_launcher.h"
#include "distributed/process_group.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/error_context.h"
#include "common/failure.h"
#include "common/runtime_info.h"
#include "jobs/jobs.h"
#include "matquant/build_info.h"

#include <fmt/format.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <boost/filesystem.hpp>
#include <fstream>
#include <iostream>

namespace matquant::jobs {

namespace fs = boost::filesystem;

namespace {

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buffer;
}

std::string host_name() {
  char buffer[256] = {0};
  ::gethostname(buffer, sizeof(buffer) - 1);
  return buffer;
}

// What a failure message names as being done: "train job KEY (model M, qat, batch 16 x 256)".
std::string job_description(const nlohmann::json& job, const nlohmann::json& spec) {
  const auto field = [&](const char* pointer) {
    const nlohmann::json::json_pointer at(pointer);
    return spec.contains(at) ? (spec[at].is_string() ? spec[at].get<std::string>() : spec[at].dump()) : "?";
  };
  const std::string kind = job.value("job", "");
  const std::string what = kind == "eval" ? "eval " + job.value("precision", "") + ", batch " + field("/eval/batch_size")
                                          : field("/base") + ", batch " + field("/train/batch_size") + " x " +
                                                field("/train/seq_len");
  return fmt::format("{} job {} (model {}, {})", kind, job.value("job_key", ""), field("/model"), what);
}

std::string device_description(const std::string& device) {
  if (device.rfind("cuda", 0) == 0 && torch::cuda::is_available()) return "cuda (" + device + ")";
  return "cpu";
}

}  // namespace

void write_result_atomically(const std::string& job_dir, const nlohmann::json& result) {
  write_file_atomically((fs::path(job_dir) / "result.json").string(), result.dump(1) + "\n");
}

namespace {

// A training job on several GPUs (the run's resources.gpus; the runner gave this worker that many
// in CUDA_VISIBLE_DEVICES): this worker is rank 0, and ranks 1.. are `matquant train` processes of
// the same spec, state and checkpoint paths (lib/distributed/local_launcher.h).
JobOutcome run_sharded_train_job(const std::string& job_dir, const nlohmann::json& job, const nlohmann::json& spec,
                                 JobContext context) {
  const int processes = job.at("processes").get<int>();
  const std::string spec_file = (fs::path(job_dir) / "spec.json").string();
  write_file_atomically(spec_file, spec.dump(1) + "\n");
  const std::string checkpoint = job.at("checkpoint").get<std::string>();
  const std::string state_dir = job.value("state_dir", "");
  std::vector<std::string> argv{distributed::own_executable(), "train", spec_file, "--out", checkpoint,
                                "--device", context.device, "--cache-dir", context.cache_dir};
  if (!state_dir.empty()) {
    argv.push_back("--state-dir");
    argv.push_back(state_dir);
  }
  distributed::HelperRanks helpers(processes, argv);
  if (context.device == "cuda") context.device = "cuda:0";
  context.communicator = distributed::connect(helpers.rank_zero(), c10::Device(context.device));
  JobOutcome outcome = run_train_job(spec, checkpoint, state_dir, context);
  helpers.wait();
  outcome.timings["processes"] = processes;
  return outcome;
}

}  // namespace

int run_worker(const std::string& job_dir) {
  const fs::path job_file = fs::path(job_dir) / "job.json";
  std::ifstream in(job_file);
  if (!in) throw Error(ErrorCode::kNotFound, "no job file " + job_file.string());
  nlohmann::json job;
  try {
    job = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidInput, job_file.string() + ": not valid JSON");
  }
  const std::string kind = job.value("job", "");
  JobContext context;
  context.cache_dir = job.value("cache_dir", "results/cache");
  context.device = job.value("device", "cpu");
  context.log = [](const std::string& line) { std::cerr << "[worker] " << line << std::endl; };

  const RuntimeInfo runtime = runtime_info();
  nlohmann::json result = {
      {"format_version", kResultFormatVersion}, {"run_key", job.value("run_key", "")},
      {"job_key", job.value("job_key", "")},    {"job", kind},
      {"spec", job.value("spec", nlohmann::json::object())},
      {"device", device_description(context.device)}, {"host", host_name()},
      {"versions", {{"matquant", kVersion}, {"torch", runtime.torch_version}}},
      {"git_sha", kGitSha}, {"started_at", utc_now()}, {"metrics", nlohmann::json::array()},
      {"artifacts", nlohmann::json::array()}};
  int exit_code = 0;
  try {
    const ErrorContext scope(job_description(job, result["spec"]));
    JobOutcome outcome;
    if (kind == "train" && job.value("processes", 1) > 1) {
      outcome = run_sharded_train_job(job_dir, job, result["spec"], context);
    } else if (kind == "train") {
      outcome = run_train_job(result["spec"], job.at("checkpoint").get<std::string>(),
                              job.value("state_dir", ""), context);
      if (!outcome.checkpoint.empty()) result["artifacts"].push_back({{"kind", "checkpoint"}, {"path", outcome.checkpoint}});
    } else if (kind == "eval") {
      const std::string precision = job.at("precision").get<std::string>();
      outcome = run_eval_job(result["spec"], job.value("checkpoint", ""), precision, context);
      result["precision"] = precision_label(precision, result["spec"].value("variant", "") == "ep");
    } else {
      throw Error(ErrorCode::kInvalidInput, job_file.string() + ": job must be 'train' or 'eval', got '" + kind + "'");
    }
    result["status"] = outcome.status;
    for (const auto& m : outcome.metrics) {
      result["metrics"].push_back({{"precision", m.precision}, {"task", m.task}, {"metric", m.metric}, {"value", m.value}});
    }
    result["timings"] = outcome.timings;
    if (outcome.status == "failed") {  // some tasks failed; the others' metrics are kept above
      result["error"] = outcome.error;
      std::cerr << "[worker] failed: " << outcome.error << std::endl;
      exit_code = 1;
    }
  } catch (...) {
    // LibTorch's errors too (CUDA out of memory): one line, no C++ backtrace (common/failure.h).
    const Failure failure = describe_failure(std::current_exception());
    result["status"] = "failed";
    result["error"] = failure.message;
    std::cerr << "[worker] failed: " << failure.message << std::endl;
    exit_code = 1;
  }
  result["finished_at"] = utc_now();
  write_result_atomically(job_dir, result);
  return exit_code;
}

}  // namespace matquant::jobs
