#include "model/pretrained.h"

#include "model/compressed_tensors_export.h"

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

void save_pretrained(DecoderModel& model, const std::string& directory, const SaveOptions& options) {
  c10::NoGradGuard no_grad;
  fs::create_directories(directory);
  std::map<std::string, at::Tensor> effective;
  std::map<std::string, CompressedTensorsWeight> compressed;  // by weight tensor name
  std::vector<std::pair<std::string, CompressedTensorsWeight>> compressed_modules;
  for (auto& [name, layer_index, linear] : model->quantized_linears()) {
    if (options.compressed_tensors && linear->mx_codes()) {
      throw_invalid(name + " holds MXINT codes, which compressed-tensors' integer formats do not describe; export "
                           "them with --format dense");
    }
    if (options.compressed_tensors && linear->codes() && linear->precision() && linear->quantizer()) {
      auto weight = compressed_tensors_weight(*linear->codes(), *linear->precision(), linear->quantizer()->slice_mode);
      compressed_modules.emplace_back(name, weight);
      compressed.emplace(name + ".weight", std::move(weight));
    } else {
      effective[name + ".weight"] = linear->effective_weight();
    }
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, tensor] : model->named_weights()) {
    if (const auto it = compressed.find(name); it != compressed.end()) {
      // int8 values and fp32 parameters, whatever the export dtype.
      const std::string module = name.substr(0, name.size() - std::string(".weight").size());
      tensors.emplace_back(name, it->second.weight.cpu());
      tensors.emplace_back(module + ".weight_scale", it->second.scale.cpu());
      tensors.emplace_back(module + ".weight_zero_point", it->second.zero_point.cpu());
      continue;
    }
    const auto it = effective.find(name);
    at::Tensor value = (it == effective.end() ? tensor : it->second).detach();
    if (options.dtype) value = value.to(*options.dtype);
    tensors.emplace_back(name, value);
  }
  nlohmann::json config = model->config().raw;
  if (!compressed_modules.empty()) config["quantization_config"] = compressed_tensors_config(compressed_modules);
  const at::ScalarType dtype = options.dtype.value_or(model->embed_tokens.scalar_type());
  // transformers 5 writes "dtype", 4.x "torch_dtype".
  config[config.contains("dtype") ? "dtype" : "torch_dtype"] = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
  write_text_atomically(fs::path(directory) / "config.json", config.dump(2) + "\n");
  // Greedy shards in checkpoint order, as transformers fills them.
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  int64_t in_shard = 0, total = 0;
  for (auto& entry : tensors) {
    const int64_t bytes = entry.second.numel() * int64_t(entry.second.element_size());
    if (in_shard > 0 && in_shard + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(std::move(entry));
    in_shard += bytes;
    total += bytes;
  }
  // Shards of an earlier export into this directory would otherwise linger beside the new ones.
  for (const auto& entry : fs::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("model-", 0) == 0 && name.find("-of-") != std::string::npos) fs::remove(entry.path());
  }
  const fs::path single = fs::path(directory) / "model.safetensors";
  const fs::path index = fs::path(directory) / "model.safetensors.index.json";
  if (shards.size() == 1) {
    fs::remove(index);
    write_safetensors(single.string(), shards.front(), {{"format", "pt"}});
    return;
  }
  fs::remove(single);
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, shards.size());
    write_safetensors((fs::path(directory) / file).string(), shards[k], {{"format", "pt"}});
    for (const auto& entry : shards[k]) weight_map[entry.first] = file;
  }
  const nlohmann::json index_json = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_text_atomically(index, index_json.dump(2) + "\n");
}

}  // namespace matquant::model
