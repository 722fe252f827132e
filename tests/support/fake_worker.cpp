// A stand-in for `matquant worker JOB_DIR` in the sweep runner's tests: it speaks the same
// protocol (job.json in, result.json by atomic rename out) without LibTorch, and misbehaves on
// request through the spec's `model` field:
//   fake:ok       finishes; eval metric log_pplx = 10 / bits (bf16: 1)
//   fake:crash    training segfaults (no result file)
//   fake:flaky    the first attempt of each job exits 3 without a result, the next succeeds
//   fake:diverge  training reports status "diverged"
//   fake:garbage  training writes a truncated result file
//   fake:fail     training writes a "failed" result file, byte-identical on every attempt
//   fake:slow     like ok, but each job takes FAKE_WORKER_SECONDS (default 0.5 s)
// Every start is appended to $FAKE_WORKER_LOG as "JOB_KEY KIND", and, with $FAKE_WORKER_GPU_LOG
// set, every finish to that file as "JOB_KEY START_S END_S CUDA_VISIBLE_DEVICES PROCESSES".
#include "quant/precision_label.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

using nlohmann::json;

namespace {

void write_atomically(const std::string& dir, const std::string& text) {
  const std::string tmp = dir + "/result.json.tmp";
  std::ofstream(tmp) << text;
  std::rename(tmp.c_str(), (dir + "/result.json").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "worker") return 2;
  const std::string dir = argv[2];
  std::ifstream in(dir + "/job.json");
  const json job = json::parse(in);
  const std::string kind = job.at("job");
  const json& spec = job.at("spec");
  const std::string model = spec.at("model");
  if (const char* log = std::getenv("FAKE_WORKER_LOG")) {
    std::ofstream(log, std::ios::app) << job.at("job_key").get<std::string>() << " " << kind << "\n";
  }
  const auto now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  const double started = now();
  if (model == "fake:slow") {
    const char* seconds = std::getenv("FAKE_WORKER_SECONDS");
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds ? std::atof(seconds) : 0.5));
  }
  if (const char* log = std::getenv("FAKE_WORKER_GPU_LOG")) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    std::ofstream(log, std::ios::app) << std::fixed << job.at("job_key").get<std::string>() << " " << started << " "
                                      << now() << " " << (visible && *visible ? visible : "-") << " "
                                      << job.value("processes", 1) << "\n";
  }
  if (model == "fake:crash" && kind == "train") {
    std::fprintf(stderr, "about to crash\n");
    std::fflush(stderr);
    std::raise(SIGSEGV);
  }
  if (model == "fake:flaky") {
    const std::string marker = dir + "/attempted";
    if (access(marker.c_str(), F_OK) != 0) {
      std::ofstream(marker) << "1";
      std::fprintf(stderr, "flaky first attempt\n");
      return 3;
    }
  }
  json result = {{"format_version", 1},
                 {"run_key", job.at("run_key")},
                 {"job_key", job.at("job_key")},
                 {"job", kind},
                 {"status", "done"},
                 {"spec", spec},
                 {"metrics", json::array()},
                 {"artifacts", json::array()},
                 {"timings", {{"seconds", 0.01}}},
                 {"device", job.value("device", "cpu")},
                 {"host", "test"},
                 {"versions", {{"matquant", "test"}}},
                 {"git_sha", "test"},
                 {"started_at", "2026-11-25T00:00:00Z"},
                 {"finished_at", "2026-11-25T00:00:01Z"}};
  if (kind == "train") {
    if (model == "fake:diverge") result["status"] = "diverged";
    if (model == "fake:fail") {
      result["status"] = "failed";
      result["error"] = "fake failure: the same on every attempt";
      write_atomically(dir, result.dump(1));
      return 1;
    }
    if (model == "fake:garbage") {
      write_atomically(dir, result.dump().substr(0, 40));
      return 0;
    }
    std::ofstream(job.at("checkpoint").get<std::string>()) << "checkpoint";
    result["artifacts"].push_back({{"kind", "checkpoint"}, {"path", job.at("checkpoint")}});
  } else {
    const std::string precision = job.at("precision");
    const bool extra = spec.value("variant", "") == "ep";
    const std::string label = matquant::quant::precision_label(precision, extra);
    // Evaluating a checkpoint that was never written would be a runner bug.
    if (precision != "bf16") {
      std::ifstream checkpoint(job.at("checkpoint").get<std::string>());
      if (!checkpoint) {
        std::fprintf(stderr, "no checkpoint at %s\n", job.at("checkpoint").get<std::string>().c_str());
        return 4;
      }
    }
    const double value = precision == "bf16" ? 1.0 : 10.0 / std::atof(precision.c_str());
    result["precision"] = label;
    result["metrics"].push_back({{"precision", label}, {"task", "validation"}, {"metric", "log_pplx"}, {"value", value}});
  }
  write_atomically(dir, result.dump(1));
  return 0;
}
