// A job that runs out of memory is recorded in result.json as a failed job with one line naming
// the job and the allocation, and the worker returns 1; it does not abort (issue 14: exit 134).
#include "jobs/worker.h"
#include "test_device.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <fstream>

namespace fs = boost::filesystem;

TEST(WorkerFailures, OutOfMemoryIsRecordedInTheResult) {
  const fs::path dir = fs::temp_directory_path() / fs::unique_path("matquant_worker_oom_%%%%%%%%");
  fs::remove_all(dir);
  fs::create_directories(dir / "model");
  // A valid config whose embedding is 2^30 x 2^30 floats (4 EiB, past any address space, so a host
  // that overcommits refuses it too): the allocation fails at once, on the GPU
  // (c10::OutOfMemoryError) as on the host (DefaultCPUAllocator).
  std::ofstream(dir / "model" / "config.json") << R"({"model_type": "llama", "vocab_size": 1073741824,
    "hidden_size": 1073741824, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 32})";
  const nlohmann::json job = {{"job", "eval"}, {"job_key", "k1"}, {"precision", "bf16"},
                              {"device", matquant::testing::test_device().str()},
                              {"spec", {{"model", (dir / "model").string()}, {"eval", {{"batch_size", 8}}}}}};
  std::ofstream(dir / "job.json") << job.dump();

  EXPECT_EQ(matquant::jobs::run_worker(dir.string()), 1);
  std::ifstream in(dir / "result.json");
  const nlohmann::json result = nlohmann::json::parse(in);
  EXPECT_EQ(result.value("status", ""), "failed");
  const std::string error = result.value("error", "");
  const std::string expected = "out of memory while eval job k1 (model " + (dir / "model").string() + ", eval bf16, batch 8): ";
  EXPECT_EQ(error.rfind(expected, 0), 0u) << error;
  EXPECT_TRUE(error.find("Tried to allocate") != std::string::npos ||
              error.find("you tried to allocate") != std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}
