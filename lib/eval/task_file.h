#pragma once
// Reading the task files: JSONL records and the separate label files of PIQA and Social IQa, with
// every problem reported as "FILE:LINE: FIELD: message".
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace matquant::eval {

struct JsonRecord {
  nlohmann::json value;
  int64_t line = 0;
};

// Every non-blank line of a JSONL file as a JSON object. A missing file is ErrorCode::kNotFound.
std::vector<JsonRecord> read_jsonl_records(const std::string& path);
// One label per non-blank line (e.g. PIQA's valid-labels.lst).
std::vector<std::string> read_label_lines(const std::string& path);

// Field access that names the file, line and field when the field is absent or mistyped.
class RecordReader {
 public:
  RecordReader(const std::string& path, const JsonRecord& record) : path_(path), record_(record) {}
  bool has(const std::string& field) const;
  const nlohmann::json& field(const std::string& dotted) const;  // "question.stem"
  std::string text(const std::string& dotted) const;
  std::vector<std::string> text_list(const std::string& dotted) const;
  // An integer given as a number or a string of digits ("2"); bools as 0/1.
  int64_t integer(const std::string& dotted) const;
  [[noreturn]] void fail(const std::string& field, const std::string& message) const;
  int64_t line() const { return record_.line; }

 private:
  const std::string& path_;
  const JsonRecord& record_;
};

}  // namespace matquant::eval

namespace matquant::eval {

// The release labels beside a JSONL file (valid.jsonl -> valid-labels.lst), one per record; a
// count mismatch is an error naming the labels file.
std::vector<std::string> read_release_labels(const std::string& jsonl_path, size_t records);

}  // namespace matquant::eval
