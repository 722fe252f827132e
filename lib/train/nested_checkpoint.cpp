#include "train/nested_checkpoint.h"

#include "common/error.h"
#include "kernels/master_weight_ops.h"
#include "model/safetensors.h"

#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <boost/filesystem.hpp>
#include <set>

namespace matquant::train {

namespace {

std::string slice_mode_name(quant::SliceMode mode) {
  return mode == quant::SliceMode::kClamped ? "clamped" : "extra_precision";
}

}  // namespace

void save_nested_checkpoint(model::DecoderModel& model, const std::string& path,
                            const nlohmann::json& metadata) {
  c10::NoGradGuard no_grad;
  std::map<std::string, model::QuantizedLinear> quantized;
  nlohmann::json quantizer;
  for (auto& [name, layer, linear] : model->quantized_linears()) {
    if (!linear->frozen()) linear->freeze_codes();
    quantized.emplace(name + ".weight", linear);
    const auto& q = *linear->quantizer();
    quantizer = {{"bits", q.source_bits}, {"group_size", q.group_size},
                 {"slice_mode", slice_mode_name(q.slice_mode)}};
    // MXINT stores (post-training bases): int8 element codes and int16 shared exponents per block.
    if (q.mx_block_size > 0) quantizer["mx_block_size"] = q.mx_block_size;
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, tensor] : model->named_weights()) {
    const auto it = quantized.find(name);
    if (it == quantized.end()) {
      tensors.emplace_back(name, tensor.detach());
      continue;
    }
    if (const auto& mx = it->second->mx_codes()) {
      tensors.emplace_back(name + ".mx_codes", mx->codes);
      tensors.emplace_back(name + ".mx_exponents", mx->exponents);
      continue;
    }
    const auto& codes = *it->second->codes();
    tensors.emplace_back(name + ".codes", codes.codes);
    tensors.emplace_back(name + ".scale", codes.scale);
    tensors.emplace_back(name + ".zero_point", codes.zero_point);
  }
  nlohmann::json meta = metadata;
  meta["format_version"] = kNestedCheckpointVersion;
  meta["config"] = model->config().raw;
  meta["quantizer"] = quantizer;
  meta["quantized"] = nlohmann::json::array();
  for (const auto& [name, linear] : quantized) meta["quantized"].push_back(name);
  const boost::filesystem::path parent = boost::filesystem::path(path).parent_path();
  if (!parent.empty()) boost::filesystem::create_directories(parent);  // "ckpt.safetensors" has none
  model::write_safetensors(path, tensors, {{"matquant", meta.dump()}});
}

namespace {

nlohmann::json checked_metadata(const model::SafetensorsReader& reader, const std::string& path) {
  const auto& file_meta = reader.metadata();
  const auto it = file_meta.find("matquant");
  if (it == file_meta.end()) {
    throw Error(ErrorCode::kInvalidInput, path + ": not a matquant nested checkpoint (no 'matquant' metadata)");
  }
  nlohmann::json metadata = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!metadata.is_object()) throw Error(ErrorCode::kInvalidInput, path + ": its 'matquant' metadata is not a JSON object");
  if (metadata.value("format_version", 0) != kNestedCheckpointVersion) {
    throw Error(ErrorCode::kInvalidInput, fmt::format("{}: checkpoint format version {} (expected {})", path,
                                                      metadata.value("format_version", 0), kNestedCheckpointVersion));
  }
  return metadata;
}

}  // namespace

nlohmann::json read_nested_checkpoint_metadata(const std::string& path) {
  return checked_metadata(model::SafetensorsReader::open(path), path);
}

LoadedCheckpoint load_nested_checkpoint(const std::string& path, at::ScalarType dtype, const at::Device& device) {
  const auto reader = model::SafetensorsReader::open(path);
  LoadedCheckpoint loaded;
  loaded.metadata = checked_metadata(reader, path);
  loaded.model = model::DecoderModel(model::parse_config(loaded.metadata.at("config"), path + " (stored config)"));
  auto& m = loaded.model;
  c10::NoGradGuard no_grad;
  m->to(device, dtype);
  const auto& q = loaded.metadata.at("quantizer");
  std::set<std::string> quantized;
  for (const auto& name : loaded.metadata.at("quantized")) quantized.insert(name.get<std::string>());
  if (!quantized.empty()) {
    const bool attention = std::any_of(quantized.begin(), quantized.end(), [](const std::string& n) {
      return n.find("self_attn") != std::string::npos;
    });
    model::QuantizerConfig config;
    config.source_bits = q.at("bits").get<int>();
    config.group_size = q.at("group_size").get<int64_t>();
    config.slice_mode = q.at("slice_mode").get<std::string>() == "clamped" ? quant::SliceMode::kClamped
                                                                           : quant::SliceMode::kExtraPrecision;
    config.mx_block_size = q.value("mx_block_size", int64_t(0));
    m->enable_quantization(attention ? model::QuantScope::kFfnAndAttention : model::QuantScope::kFfn, config);
  }
  std::map<std::string, model::QuantizedLinear> linears;
  for (auto& [name, layer, linear] : m->quantized_linears()) linears.emplace(name + ".weight", linear);
  for (auto& [name, tensor] : m->named_weights()) {
    const auto lin = linears.find(name);
    if (lin == linears.end()) {
      const std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
      tensor.set_data(reader.load(name, dtype, device, shape));
      continue;
    }
    const std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
    if (const int64_t block = lin->second->quantizer()->mx_block_size; block > 0) {
      quant::MxCodes mx;
      mx.format = {lin->second->quantizer()->source_bits, block};
      mx.codes = reader.load(name + ".mx_codes", at::kChar, device, shape);
      mx.exponents = reader.load(name + ".mx_exponents", at::kShort, device,
                                 std::vector<int64_t>{shape[0], (shape[1] + block - 1) / block});
      lin->second->load_mx_codes(std::move(mx));
      tensor.set_data(lin->second->mx_codes()->dequantize(dtype));
      continue;
    }
    quant::NestedCodes codes;
    codes.codes = reader.load(name + ".codes", at::kByte, device,
                              std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end()));
    codes.scale = reader.load(name + ".scale", at::kFloat, device);
    codes.zero_point = reader.load(name + ".zero_point", at::kFloat, device);
    codes.bits = lin->second->quantizer()->source_bits;
    codes.group_size = lin->second->quantizer()->group_size;
    lin->second->load_codes(std::move(codes));
    // The float weight is not stored: serve the int-c view when no precision is selected.
    tensor.set_data(lin->second->codes()->dequantize(codes.bits, lin->second->quantizer()->slice_mode, dtype));
  }
  kernels::note_weights_changed();  // set_data bumps no version (kernels::WeightRangeScope)
  m->eval();
  return loaded;
}

}  // namespace matquant::train
