#pragma once
// A small RFC 4180 reader for the committed paper CSVs (quoted fields, "" escapes), keeping line
// numbers so a bad cell can be reported as FILE:LINE.
#include <string>
#include <vector>

namespace matquant::report {

struct CsvRecord {
  long line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};

// Parses `text`; `source` names it in errors (unterminated quote).
std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& source);

}  // namespace matquant::report
