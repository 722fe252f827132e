#include "model/pretrained.h"

#include "common/error.h"
#include "model/safetensors.h"

#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <boost/filesystem.hpp>
#include <fstream>

namespace matquant::model {

namespace fs = boost::filesystem;

DecoderModel load_pretrained(const std::string& directory, const LoadOptions& options) {
  if (!fs::is_directory(directory)) {
    throw Error(ErrorCode::kNotFound, "model directory " + directory + " does not exist");
  }
  DecoderModel model(load_config(directory));
  const SafetensorsReader reader = SafetensorsReader::open(directory);
  c10::NoGradGuard no_grad;
  model->to(options.device, options.dtype);
  for (auto& [name, tensor] : model->named_weights()) {
    if (!reader.contains(name)) {
      throw Error(ErrorCode::kInvalidInput,
                  fmt::format("{}: tensor '{}' is missing from the checkpoint", directory, name));
    }
    const auto& info = reader.info(name);
    if (info.dtype != "F32" && info.dtype != "BF16" && info.dtype != "F16" && info.dtype != "F64") {
      throw Error(ErrorCode::kInvalidInput, fmt::format("{}: tensor '{}' has dtype {}, expected a floating type",
                                                        info.file, name, info.dtype));
    }
    const std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
    tensor.set_data(reader.load(name, options.dtype, options.device, shape));
  }
  return model;
}

static void write_text_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw Error(ErrorCode::kIo, "cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

void save_pretrained(DecoderModel& model, const std::string& directory) {
  c10::NoGradGuard no_grad;
  fs::create_directories(directory);
  std::map<std::string, at::Tensor> effective;
  for (auto& [name, layer_index, linear] : model->quantized_linears()) {
    effective[name + ".weight"] = linear->effective_weight();
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, tensor] : model->named_weights()) {
    const auto it = effective.find(name);
    tensors.emplace_back(name, (it == effective.end() ? tensor : it->second).detach());
  }
  nlohmann::json config = model->config().raw;
  const at::ScalarType dtype = model->embed_tokens.scalar_type();
  // transformers 5 writes "dtype", 4.x "torch_dtype".
  config[config.contains("dtype") ? "dtype" : "torch_dtype"] = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
  write_safetensors((fs::path(directory) / "model.safetensors").string(), tensors,
                    {{"format", "pt"}});
  write_text_atomically(fs::path(directory) / "config.json", config.dump(2) + "\n");
}

}  // namespace matquant::model
