#include "report/paper_numbers.h"

#include "common/error.h"
#include "report/csv_reader.h"

#include <fstream>
#include <sstream>

namespace matquant::report {
namespace {

[[noreturn]] void fail(const std::string& source, long line, const std::string& field, const std::string& message) {
  throw Error(ErrorCode::kInvalidInput, located_message(source, line, field, message));
}

// The whole text must be a number (no trailing characters, no "nan").
bool parse_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  std::istringstream in(text);
  in >> value;
  return !in.fail() && in.peek() == std::char_traits<char>::eof();
}

}  // namespace

PaperNumbers PaperNumbers::parse(const std::string& text, const std::string& source) {
  PaperNumbers numbers;
  numbers.source_ = source;
  const std::vector<CsvRecord> records = parse_csv(text, source);
  if (records.empty() || records[0].fields != paper_csv_header()) {
    fail(source, 1, "", "expected the header table,model,base,variant,precision,column,value");
  }
  const auto& header = paper_csv_header();
  for (size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    if (record.fields.size() != header.size()) {
      fail(source, record.line, "", "expected " + std::to_string(header.size()) + " fields, got " +
                                        std::to_string(record.fields.size()));
    }
    for (size_t f : {0, 1, 4, 5, 6}) {  // base and variant may be empty (the bfloat16 row has no variant)
      if (record.fields[f].empty()) fail(source, record.line, header[f], "must not be empty");
    }
    const PaperKey key{record.fields[0], record.fields[1], record.fields[2],
                       record.fields[3], record.fields[4], record.fields[5]};
    PaperValue value{record.fields[6], record.fields[6] == "-", 0.0, record.line};
    if (!value.diverged && !parse_number(value.text, value.value)) {
      fail(source, record.line, "value", "'" + value.text + "' is not a number or '-'");
    }
    const auto [it, inserted] = numbers.values_.emplace(key, value);
    if (!inserted) {
      fail(source, record.line, "", "duplicate entry (first at line " + std::to_string(it->second.line) + ")");
    }
  }
  return numbers;
}

PaperNumbers PaperNumbers::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "no paper numbers file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

std::optional<PaperValue> PaperNumbers::find(const PaperKey& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

}  // namespace matquant::report
