#include "report/cell_text.h"
#include "report/render.h"

#include <algorithm>

namespace matquant::report {
namespace {

std::string escape_pipes(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == '|') ? std::string("\\|") : std::string(1, c);
  return out;
}

// Header text of one value column: the group, and the measure when a group has several.
std::string value_column_header(const ReportTable& table, size_t group, size_t measure) {
  if (table.measures.size() == 1) return table.groups[group].label;
  return table.groups[group].label + ", " + table.measures[measure].label;
}

}  // namespace

std::string render_markdown(const ReportTable& table) {
  std::vector<std::vector<std::string>> lines;  // header, then one per row
  std::vector<std::string> header = {table.row_header[0], table.row_header[1]};
  for (size_t g = 0; g < table.groups.size(); ++g) {
    for (size_t m = 0; m < table.measures.size(); ++m) header.push_back(value_column_header(table, g, m));
  }
  lines.push_back(header);
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const ReportRow& row = table.rows[r];
    std::vector<std::string> cells = {row.section_start ? row.section : "", row.label};
    for (size_t g = 0; g < table.groups.size(); ++g) {
      for (size_t m = 0; m < table.measures.size(); ++m) {
        cells.push_back(cell_text(table.cell(r, g, m), table.measures[m].digits));
      }
    }
    lines.push_back(cells);
  }
  const size_t columns = header.size();
  std::vector<size_t> width(columns, 3);
  for (auto& line : lines) {
    for (size_t c = 0; c < columns; ++c) {
      line[c] = escape_pipes(line[c]);
      width[c] = std::max(width[c], line[c].size());
    }
  }
  const auto format_line = [&](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (size_t c = 0; c < columns; ++c) {
      const std::string fill(width[c] - cells[c].size(), ' ');
      out += " " + (c < 2 ? cells[c] + fill : fill + cells[c]) + " |";
    }
    return out + "\n";
  };
  std::string out = "## Table " + table.id + ": " + table.title + "\n\n";
  if (table.has_paper) {
    if (!table.source.empty()) out += "Paper numbers: " + table.source + ".\n";
    out += std::string(kCellLegend) + "\n\n";
  }
  out += format_line(lines[0]);
  out += "|";
  for (size_t c = 0; c < columns; ++c) {
    out += c < 2 ? ":" + std::string(width[c] + 1, '-') + "|" : std::string(width[c] + 1, '-') + ":|";
  }
  out += "\n";
  for (size_t i = 1; i < lines.size(); ++i) out += format_line(lines[i]);
  if (!table.footnotes.empty()) out += "\n";
  for (const std::string& note : table.footnotes) out += note + "\n";
  return out;
}

}  // namespace matquant::report
