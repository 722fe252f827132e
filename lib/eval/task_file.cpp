#include "eval/task_file.h"

#include "common/error.h"
#include "common/json_text.h"

#include <boost/filesystem.hpp>

#include <fstream>

namespace matquant::eval {

std::vector<JsonRecord> read_jsonl_records(const std::string& path) {
  if (!boost::filesystem::exists(path)) throw Error(ErrorCode::kNotFound, path + ": file not found");
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kIo, path + ": cannot be read");
  std::vector<JsonRecord> records;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    JsonRecord record;
    record.line = number;
    record.value = parse_json_text(line, path + ":" + std::to_string(number));
    if (!record.value.is_object()) {
      throw Error(ErrorCode::kInvalidInput, located_message(path, number, "(line)", "expected a JSON object"));
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::vector<std::string> read_label_lines(const std::string& path) {
  if (!boost::filesystem::exists(path)) throw Error(ErrorCode::kNotFound, path + ": labels file not found");
  std::ifstream in(path);
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) labels.push_back(line);
  }
  return labels;
}

bool RecordReader::has(const std::string& field) const { return record_.value.contains(field); }

const nlohmann::json& RecordReader::field(const std::string& dotted) const {
  const nlohmann::json* node = &record_.value;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot - start);
    if (!node->is_object() || !node->contains(key)) fail(dotted, "missing");
    node = &(*node)[key];
    if (dot == std::string::npos) return *node;
    start = dot + 1;
  }
}

std::string RecordReader::text(const std::string& dotted) const {
  const auto& value = field(dotted);
  if (!value.is_string()) fail(dotted, "expected a string, got " + value.dump());
  return value.get<std::string>();
}

std::vector<std::string> RecordReader::text_list(const std::string& dotted) const {
  const auto& value = field(dotted);
  if (!value.is_array()) fail(dotted, "expected a list of strings");
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) fail(dotted, "expected a list of strings, found " + item.dump());
    out.push_back(item.get<std::string>());
  }
  return out;
}

int64_t RecordReader::integer(const std::string& dotted) const {
  const auto& value = field(dotted);
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) {
    const auto s = value.get<std::string>();
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
  }
  fail(dotted, "expected an integer, got " + value.dump());
}

void RecordReader::fail(const std::string& field, const std::string& message) const {
  throw Error(ErrorCode::kInvalidInput, located_message(path_, record_.line, field, message));
}

}  // namespace matquant::eval

#include "eval/task_formats.h"

namespace matquant::eval {

std::string labels_path_for(const std::string& jsonl_path) {
  const std::string suffix = ".jsonl";
  const bool jsonl = jsonl_path.size() >= suffix.size() &&
                     jsonl_path.compare(jsonl_path.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (jsonl ? jsonl_path.substr(0, jsonl_path.size() - suffix.size()) : jsonl_path) + "-labels.lst";
}

std::vector<std::string> read_release_labels(const std::string& jsonl_path, size_t records) {
  const std::string path = labels_path_for(jsonl_path);
  if (!boost::filesystem::exists(path)) {
    throw Error(ErrorCode::kNotFound, jsonl_path + " has no label field and its labels file " + path + " is missing");
  }
  auto labels = read_label_lines(path);
  if (labels.size() != records) {
    throw Error(ErrorCode::kInvalidInput, located_message(path, 0, "", std::to_string(labels.size()) + " labels for " +
                                                                           std::to_string(records) + " records in " + jsonl_path));
  }
  return labels;
}

}  // namespace matquant::eval
