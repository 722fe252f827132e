#include "run_spec_file.h"

#include "common/error.h"
#include "common/json_text.h"
#include "sweep/run_spec.h"

#include <boost/filesystem.hpp>

#include <fstream>
#include <sstream>
#include <vector>

namespace matquant::apps {

nlohmann::json read_raw_run_spec(const std::string& path) {
  if (boost::filesystem::is_directory(path)) throw Error(ErrorCode::kInvalidInput, "run spec " + path + " is a directory");
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kNotFound, "run spec " + path + " does not exist");
  std::stringstream text;
  text << in.rdbuf();
  return parse_json_text(text.str(), path);
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
