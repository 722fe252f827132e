#include "run_spec_file.h"

#include "common/error.h"
#include "sweep/run_spec.h"

#include <fstream>
#include <vector>

namespace matquant::apps {

nlohmann::json read_raw_run_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kNotFound, "run spec " + path + " does not exist");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::kInvalidInput, path + ": not valid JSON (" + e.what() + ")");
  }
}

nlohmann::json complete_run_spec(const nlohmann::json& raw, const std::string& origin) {
  std::vector<std::string> errors;
  const sweep::FlatSpec flat = sweep::flatten_json_spec(raw, origin, errors);
  nlohmann::json spec = errors.empty() ? sweep::complete_spec(flat, origin, errors) : nlohmann::json();
  if (!errors.empty()) {
    std::string message = origin + ": " + std::to_string(errors.size()) + " problem(s):";
    for (const auto& e : errors) message += "\n  " + e;
    throw Error(ErrorCode::kInvalidInput, message);
  }
  return spec;
}

}  // namespace matquant::apps
