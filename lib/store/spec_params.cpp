#include "store/spec_params.h"

#include <algorithm>

namespace matquant::store {
namespace {

void flatten_into(const nlohmann::json& value, const std::string& prefix, std::vector<SpecParam>& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) {
      flatten_into(child, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  if (!prefix.empty()) out.emplace_back(prefix, param_text(value));
}

}  // namespace

std::optional<std::string> param_text(const nlohmann::json& value) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::vector<SpecParam> flatten_spec(const nlohmann::json& spec) {
  std::vector<SpecParam> out;
  flatten_into(spec, "", out);
  std::sort(out.begin(), out.end(), [](const SpecParam& a, const SpecParam& b) { return a.first < b.first; });
  return out;
}

}  // namespace matquant::store
