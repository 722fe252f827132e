#pragma once
// Reading and validating a worker's result.json (docs/contracts.md "Result file"). Everything is
// checked before anything is written, so a corrupt, partial or truncated file is rejected with
// one message naming the file and the field.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace matquant::store {

inline constexpr int kResultFileFormatVersion = 1;

struct MetricRow {
  std::string precision;
  std::string task;
  std::string metric;
  std::optional<double> value;  // null in the file: the value was not finite (NaN/Inf)
};

struct ArtifactRow {
  std::string kind;
  std::string path;
};

struct ResultFile {
  std::string run_key;
  std::string job_key;
  std::string job;     // "train" | "eval"
  std::string status;  // "done" | "failed" | "diverged"
  nlohmann::json spec;
  std::optional<std::string> precision;  // eval jobs
  std::vector<MetricRow> metrics;
  std::vector<ArtifactRow> artifacts;
  std::optional<double> seconds;  // timings.seconds
  std::optional<std::string> device, host, git_sha, matquant_version, error, started_at, finished_at;
  std::string canonical_json;  // the whole file re-serialised (sorted keys): what jobs.result_json holds
};

// Reads and validates `path`. Throws kNotFound for a missing file, kInvalidInput for anything
// malformed ("PATH:LINE: not valid JSON ...", "PATH: metrics[2].value: expected a number ...").
ResultFile read_result_file(const std::string& path);

// Validates already-read text; `source` names it in messages.
ResultFile parse_result_file(const std::string& text, const std::string& source);

}  // namespace matquant::store
