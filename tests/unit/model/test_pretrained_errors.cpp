// A model directory with a missing, mis-shaped or wrongly typed tensor is one error naming the
// tensor and the file.
#include "model/pretrained.h"
#include "model/safetensors.h"

#include "common/error.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

using namespace matquant::model;
namespace fs = boost::filesystem;

namespace {

const std::string kLlama = std::string(MATQUANT_FIXTURES_DIR) + "/models/llama";

// The llama fixture with one tensor replaced (or removed when `replacement` is undefined).
std::string broken_copy(const std::string& name, const std::string& tensor, const at::Tensor& replacement) {
  const fs::path dir = fs::temp_directory_path() / ("matquant_broken_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fs::path(kLlama) / "config.json", dir / "config.json");
  const auto reader = SafetensorsReader::open(kLlama);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& n : reader.names()) {
    if (n != tensor) tensors.emplace_back(n, reader.load(n));
  }
  if (replacement.defined()) tensors.emplace_back(tensor, replacement);
  write_safetensors((dir / "model.safetensors").string(), tensors);
  return dir.string();
}

std::string error_of(const std::string& dir) {
  try {
    load_pretrained(dir);
  } catch (const matquant::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PretrainedErrors, NameTheTensorAndTheFile) {
  const std::string tensor = "model.layers.1.mlp.up_proj.weight";
  for (const auto& [label, replacement] :
       std::vector<std::pair<std::string, at::Tensor>>{{"missing", at::Tensor()},
                                                       {"shape", at::zeros({3, 3})},
                                                       {"dtype", at::zeros({128, 64}, at::kLong)}}) {
    const std::string message = error_of(broken_copy(label, tensor, replacement));
    EXPECT_NE(message.find(tensor), std::string::npos) << label << ": " << message;
    EXPECT_NE(message.find("matquant_broken_" + label), std::string::npos) << label << ": " << message;
  }
  EXPECT_NE(error_of("/nonexistent/model").find("/nonexistent/model"), std::string::npos);
}
