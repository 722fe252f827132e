#include "jobs/eval_results_file.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "matquant/build_info.h"

#include <boost/filesystem.hpp>

#include <ctime>

namespace matquant::jobs {

namespace fs = boost::filesystem;

EvalResultsFile::EvalResultsFile(std::string path, nlohmann::json config) : path_(std::move(path)) {
  content_ = {{"results", nlohmann::json::object()},
              {"n-samples", nlohmann::json::object()},
              {"config", std::move(config)},
              {"weights", nlohmann::json::object()},
              {"failures", nlohmann::json::object()},
              {"matquant_version", kVersion},
              {"git_hash", kGitSha},
              {"date", double(std::time(nullptr))}};
  write();  // fails now, not after the first task, when the path cannot be written
}

void EvalResultsFile::add(const std::vector<MetricRow>& rows) {
  for (const auto& row : rows) {
    if (row.task == "weights") {
      content_["weights"][row.metric] = row.value;
    } else if (row.metric == "documents") {
      content_["n-samples"][row.task] = {{"effective", int64_t(row.value)}};
    } else {
      auto& task = content_["results"][row.task];
      task["alias"] = row.task;
      task[row.metric + ",none"] = row.value;
    }
  }
  write();
}

void EvalResultsFile::add_failures(const std::string& failures) {
  content_["failures"] = failures;
  write();
}

void EvalResultsFile::write() const {
  const fs::path target(path_);
  if (target.has_parent_path()) {
    boost::system::error_code ec;
    fs::create_directories(target.parent_path(), ec);
  }
  try {
    write_file_atomically(path_, content_.dump(2) + "\n");
  } catch (const Error&) {
    throw Error(ErrorCode::kIo, path_ + ": cannot be written (--output-path)");
  }
}

std::string results_path_for(const std::string& path, const std::string& label, bool several_precisions) {
  if (!several_precisions) return path;
  std::string safe = label;  // "mnm:pyramid@3.50" -> "mnm_pyramid_3.50": one file name
  for (char& c : safe) {
    if (c == ':' || c == ',' || c == '@' || c == '/') c = '_';
  }
  const fs::path p(path);
  if (p.extension() == ".json") return (p.parent_path() / (p.stem().string() + "." + safe + ".json")).string();
  return path + "." + safe;
}

}  // namespace matquant::jobs
