#include "model/compressed_tensors_export.h"

#include "quant/slicing.h"

#include <c10/core/GradMode.h>

#include <map>
#include <tuple>

namespace matquant::model {

CompressedTensorsWeight compressed_tensors_weight(const quant::NestedCodes& codes, int bits, quant::SliceMode mode) {
  c10::NoGradGuard no_grad;
  quant::check_slice_bits(codes.bits, bits);
  CompressedTensorsWeight out;
  const int64_t step = int64_t(1) << (codes.bits - bits);
  out.num_bits = bits < codes.bits && mode == quant::SliceMode::kExtraPrecision ? bits + 1 : bits;
  const int64_t offset = int64_t(1) << (out.num_bits - 1);
  const at::Tensor level = codes.sliced_codes(bits, mode).to(at::kLong).div(step, "floor");
  out.weight = (level - offset).to(at::kChar);
  out.scale = (codes.scale.to(at::kFloat) * double(step)).contiguous();
  out.zero_point = (codes.zero_point.to(at::kFloat) / double(step) - double(offset)).contiguous();
  out.group_size = codes.group_size;
  return out;
}

nlohmann::json compressed_tensors_config(const std::vector<std::pair<std::string, CompressedTensorsWeight>>& modules) {
  std::map<std::tuple<int, int64_t>, std::vector<std::string>> groups;
  for (const auto& [name, weight] : modules) groups[{weight.num_bits, weight.group_size}].push_back(name);
  nlohmann::json config_groups = nlohmann::json::object();
  int index = 0;
  for (const auto& [key, targets] : groups) {
    const auto [bits, group_size] = key;
    nlohmann::json weights = {{"num_bits", bits}, {"type", "int"}, {"symmetric", false},
                              {"zp_dtype", "float32"}, {"dynamic", false}};
    if (group_size > 0) {
      weights["strategy"] = "group";
      weights["group_size"] = group_size;
    } else {
      weights["strategy"] = "channel";
    }
    config_groups["group_" + std::to_string(index++)] = {
        {"targets", targets}, {"weights", weights}, {"format", "naive-quantized"}};
  }
  return {{"quant_method", "compressed-tensors"},
          {"format", "naive-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups", config_groups},
          {"ignore", nlohmann::json::array()}};
}

}  // namespace matquant::model
