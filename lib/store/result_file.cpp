#include "store/result_file.h"

#include "common/error.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

namespace matquant::store {
namespace {

using nlohmann::json;

const char* type_name(const json& value) { return value.type_name(); }

// Checks fields of one JSON object and reports problems as "SOURCE: FIELD: message".
class FieldReader {
 public:
  FieldReader(const std::string& source, const json& object, std::string prefix)
      : source_(source), object_(object), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw Error(ErrorCode::kInvalidInput, located_message(source_, 0, prefix_ + field, message));
  }

  const json* find(const std::string& field) const {
    const auto it = object_.find(field);
    return it == object_.end() ? nullptr : &*it;
  }

  const json& require(const std::string& field) const {
    const json* value = find(field);
    if (value == nullptr) fail(field, "missing required field (truncated or partial file?)");
    return *value;
  }

  std::string required_string(const std::string& field, bool allow_empty = false) const {
    const json& value = require(field);
    if (!value.is_string()) fail(field, std::string("expected a string, got ") + type_name(value));
    if (!allow_empty && value.get_ref<const std::string&>().empty()) fail(field, "must not be empty");
    return value.get<std::string>();
  }

  std::string one_of(const std::string& field, const std::set<std::string>& allowed) const {
    const std::string value = required_string(field);
    if (allowed.count(value) == 0) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(field, "'" + value + "' is not one of " + list);
    }
    return value;
  }

  std::optional<std::string> optional_string(const std::string& field) const {
    const json* value = find(field);
    if (value == nullptr || value->is_null()) return std::nullopt;
    if (!value->is_string()) fail(field, std::string("expected a string, got ") + type_name(*value));
    return value->get<std::string>();
  }

  const json& required_array(const std::string& field) const {
    const json& value = require(field);
    if (!value.is_array()) fail(field, std::string("expected a list, got ") + type_name(value));
    return value;
  }

  const std::string& prefix() const { return prefix_; }
  const std::string& source() const { return source_; }

 private:
  const std::string& source_;
  const json& object_;
  std::string prefix_;
};

json parse_json(const std::string& text, const std::string& source) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error(ErrorCode::kInvalidInput, source + ": empty file (the worker did not finish writing it?)");
  }
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // Report the line of the problem; a truncated file fails at its last line.
    const size_t byte = std::min<size_t>(e.byte, text.size());
    const long line = 1 + long(std::count(text.begin(), text.begin() + long(byte > 0 ? byte - 1 : 0), '\n'));
    throw Error(ErrorCode::kInvalidInput,
                located_message(source, line, "", "not valid JSON (truncated or corrupt file?)"));
  }
}

std::vector<MetricRow> read_metrics(const FieldReader& file) {
  std::vector<MetricRow> rows;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  const json& list = file.required_array("metrics");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "metrics[" + std::to_string(i) + "]";
    if (!list[i].is_object()) file.fail(where, std::string("expected an object, got ") + type_name(list[i]));
    const FieldReader row(file.source(), list[i], where + ".");
    MetricRow metric{row.required_string("precision"), row.required_string("task"),
                     row.required_string("metric"), std::nullopt};
    const json& value = row.require("value");
    if (value.is_number()) {
      metric.value = value.get<double>();
    } else if (!value.is_null()) {
      row.fail("value", std::string("expected a number (or null), got ") + type_name(value));
    }
    if (!seen.emplace(metric.precision, metric.task, metric.metric).second) {
      file.fail(where, "duplicate metric (" + metric.precision + ", " + metric.task + ", " + metric.metric + ")");
    }
    rows.push_back(std::move(metric));
  }
  return rows;
}

std::vector<ArtifactRow> read_artifacts(const FieldReader& file) {
  std::vector<ArtifactRow> rows;
  if (file.find("artifacts") == nullptr) return rows;
  const json& list = file.required_array("artifacts");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "artifacts[" + std::to_string(i) + "]";
    if (!list[i].is_object()) file.fail(where, std::string("expected an object, got ") + type_name(list[i]));
    const FieldReader row(file.source(), list[i], where + ".");
    rows.push_back({row.required_string("kind"), row.required_string("path")});
  }
  return rows;
}

std::optional<double> read_seconds(const FieldReader& file) {
  const json* timings = file.find("timings");
  if (timings == nullptr || timings->is_null()) return std::nullopt;
  if (!timings->is_object()) file.fail("timings", std::string("expected an object, got ") + type_name(*timings));
  for (const auto& [key, value] : timings->items()) {
    if (!value.is_number() && !value.is_null()) {
      file.fail("timings." + key, std::string("expected a number, got ") + type_name(value));
    }
  }
  const auto it = timings->find("seconds");
  if (it == timings->end() || it->is_null()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

ResultFile parse_result_file(const std::string& text, const std::string& source) {
  const json document = parse_json(text, source);
  if (!document.is_object()) {
    throw Error(ErrorCode::kInvalidInput,
                source + ": expected a JSON object at the top level, got " + type_name(document));
  }
  const FieldReader file(source, document, "");
  const json& version = file.require("format_version");
  if (!version.is_number_integer()) {
    file.fail("format_version", std::string("expected an integer, got ") + type_name(version));
  }
  if (version.get<long>() != kResultFileFormatVersion) {
    file.fail("format_version", "unsupported version " + version.dump() + " (this build reads " +
                                    std::to_string(kResultFileFormatVersion) + ")");
  }
  ResultFile result;
  result.run_key = file.required_string("run_key");
  result.job_key = file.required_string("job_key");
  result.job = file.one_of("job", {"train", "eval"});
  result.status = file.one_of("status", {"done", "failed", "diverged"});
  result.spec = file.require("spec");
  if (!result.spec.is_object()) file.fail("spec", std::string("expected an object, got ") + type_name(result.spec));
  result.precision = file.optional_string("precision");
  if (result.job == "eval" && result.status == "done" && !result.precision) {
    file.fail("precision", "missing (required for a finished eval job)");
  }
  result.metrics = read_metrics(file);
  result.artifacts = read_artifacts(file);
  result.seconds = read_seconds(file);
  result.device = file.optional_string("device");
  result.host = file.optional_string("host");
  result.git_sha = file.optional_string("git_sha");
  result.error = file.optional_string("error");
  result.started_at = file.optional_string("started_at");
  result.finished_at = file.optional_string("finished_at");
  if (const json* versions = file.find("versions"); versions != nullptr && !versions->is_null()) {
    if (!versions->is_object()) file.fail("versions", std::string("expected an object, got ") + type_name(*versions));
    result.matquant_version = FieldReader(source, *versions, "versions.").optional_string("matquant");
  }
  result.canonical_json = document.dump();
  return result;
}

ResultFile read_result_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "no result file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, "cannot read result file " + path);
  return parse_result_file(text.str(), path);
}

}  // namespace matquant::store
