#include "sweep/input_checks.h"

#include <boost/filesystem.hpp>

namespace matquant::sweep {

namespace fs = boost::filesystem;

std::string missing_input(const std::string& key, const std::string& value) {
  boost::system::error_code ec;
  if (key == "model") {
    if (value.rfind("builtin:", 0) == 0) return "";  // the name is checked with the spec (run_spec.cpp)
    if (!fs::is_directory(value, ec)) {
      return fs::exists(value, ec) ? value + " is not a directory (a model is a Hugging Face directory or builtin:NAME)"
                                   : "model directory " + value + " does not exist";
    }
    if (!fs::is_regular_file(fs::path(value) / "config.json", ec)) return "model directory " + value + " has no config.json";
    return "";
  }
  if (key == "data.train" || key == "data.validation") {
    if (value == "synthetic") return "";
    if (!fs::exists(value, ec)) return "data file " + value + " does not exist";
    if (fs::is_directory(value, ec)) return value + " is a directory; give a text, JSONL or json.gz file";
    return "";
  }
  if (key == "eval.task_files") {  // one "TASK=PATH" entry; its form is checked with the spec (run_spec.cpp)
    const size_t equals = value.find('=');
    if (equals == std::string::npos) return "";
    const std::string path = value.substr(equals + 1);
    if (fs::is_directory(path, ec)) return "task file " + path + " is a directory";
    if (!fs::is_regular_file(path, ec)) return "task file " + path + " does not exist";
    return "";
  }
  if (key == "eval.task_dir") {
    if (value.empty()) return "";
    if (!fs::is_directory(value, ec)) return "task directory " + value + " does not exist";
    return "";
  }
  return "";
}

}  // namespace matquant::sweep
