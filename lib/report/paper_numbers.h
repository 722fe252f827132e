#pragma once
// The paper's own numbers, transcribed into experiments/paper/*.csv (long format, one value per
// line: table,model,base,variant,precision,column,value). A value "-" marks a run the paper
// reports as diverged; the text is kept exactly as printed ("2.29", "73.00").
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace matquant::report {

struct PaperKey {
  std::string table, model, base, variant, precision, column;
  bool operator<(const PaperKey& other) const {
    return std::tie(table, model, base, variant, precision, column) <
           std::tie(other.table, other.model, other.base, other.variant, other.precision, other.column);
  }
};

struct PaperValue {
  std::string text;       // as printed
  bool diverged = false;  // printed as "-"
  double value = 0.0;     // when not diverged
  long line = 0;          // where it is in the CSV
};

class PaperNumbers {
 public:
  // Reads one CSV; throws kInvalidInput naming FILE:LINE and the column for a malformed line or a
  // duplicate key, kNotFound for a missing file.
  static PaperNumbers load(const std::string& path);
  static PaperNumbers parse(const std::string& text, const std::string& source);

  std::optional<PaperValue> find(const PaperKey& key) const;
  const std::map<PaperKey, PaperValue>& values() const { return values_; }
  bool empty() const { return values_.empty(); }
  const std::string& source() const { return source_; }

 private:
  std::map<PaperKey, PaperValue> values_;
  std::string source_;
};

inline const std::vector<std::string>& paper_csv_header() {
  static const std::vector<std::string> header = {"table", "model", "base", "variant", "precision", "column", "value"};
  return header;
}

}  // namespace matquant::report
