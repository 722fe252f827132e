#include "store/row_format.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace matquant::store {
namespace {

std::string shown(const Cell& cell) { return cell.is_null() ? "NULL" : cell.text; }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

RowFormat parse_row_format(const std::string& name) {
  if (name == "table") return RowFormat::kTable;
  if (name == "csv") return RowFormat::kCsv;
  if (name == "json") return RowFormat::kJson;
  throw Error(ErrorCode::kUsage, "--format must be table, csv or json, got '" + name + "'");
}

std::string format_text_table(const QueryResult& result) {
  const size_t n = result.columns.size();
  std::vector<size_t> width(n);
  std::vector<bool> numeric(n, true);
  for (size_t c = 0; c < n; ++c) width[c] = result.columns[c].size();
  for (const auto& row : result.rows) {
    for (size_t c = 0; c < n; ++c) {
      width[c] = std::max(width[c], shown(row[c]).size());
      if (!row[c].is_null() && !row[c].is_number()) numeric[c] = false;
    }
  }
  const auto pad = [&](const std::string& text, size_t c) {
    const std::string fill(width[c] - text.size(), ' ');
    return numeric[c] ? fill + text : text + fill;
  };
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < n; ++c) out += (c ? "  " : "") + pad(cells[c], c);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(result.columns);
  std::vector<std::string> rule;
  for (size_t c = 0; c < n; ++c) rule.emplace_back(width[c], '-');
  out += line(rule);
  for (const auto& row : result.rows) {
    std::vector<std::string> cells;
    for (const auto& cell : row) cells.push_back(shown(cell));
    out += line(cells);
  }
  const size_t count = result.rows.size();
  return out + "(" + std::to_string(count) + (count == 1 ? " row)\n" : " rows)\n");
}

std::string format_csv(const QueryResult& result) {
  std::string out;
  for (size_t c = 0; c < result.columns.size(); ++c) out += (c ? "," : "") + csv_field(result.columns[c]);
  out += "\n";
  for (const auto& row : result.rows) {
    for (size_t c = 0; c < row.size(); ++c) out += (c ? "," : "") + (row[c].is_null() ? "" : csv_field(row[c].text));
    out += "\n";
  }
  return out;
}

std::string format_json(const QueryResult& result) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& row : result.rows) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (size_t c = 0; c < row.size(); ++c) {
      const Cell& cell = row[c];
      if (cell.is_null()) {
        object[result.columns[c]] = nullptr;
      } else if (cell.type == CellType::kInteger) {
        object[result.columns[c]] = std::stoll(cell.text);
      } else if (cell.type == CellType::kReal) {
        const double value = std::stod(cell.text);
        object[result.columns[c]] = std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
      } else {
        object[result.columns[c]] = cell.text;
      }
    }
    rows.push_back(std::move(object));
  }
  return rows.dump(2) + "\n";
}

std::string format_rows(const QueryResult& result, RowFormat format) {
  switch (format) {
    case RowFormat::kCsv:
      return format_csv(result);
    case RowFormat::kJson:
      return format_json(result);
    case RowFormat::kTable:
    default:
      return format_text_table(result);
  }
}

}  // namespace matquant::store
