#include "report/cell_text.h"

#include <cmath>
#include <cstdio>

namespace matquant::report {

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

std::string signed_fixed(double value, int digits) {
  const double unit = std::pow(10.0, -digits);
  if (std::fabs(value) < unit / 2) value = 0.0;  // rounds to zero: print "+0.00", not "-0.00"
  return (value >= 0 ? "+" : "") + fixed(value, digits);
}

std::string ours_text(const CellResult& ours, int digits, bool beside_paper) {
  switch (ours.state) {
    case CellState::kValue:
      return fixed(ours.value, digits);
    case CellState::kDiverged:
      return "-";
    case CellState::kTooFewDocuments:
      return std::string("n/a") + kTooFewDocumentsMark;
    case CellState::kAmbiguous:
      return "?";
    case CellState::kMissing:
    default:
      return beside_paper ? "n/a" : "";
  }
}

CellParts cell_parts(const ReportCell& cell, int digits) {
  CellParts parts;
  parts.ours = ours_text(cell.ours, digits, cell.paper.has_value());
  if (!cell.paper) return parts;
  parts.paper = cell.paper->text;
  if (cell.ours.state == CellState::kValue && !cell.paper->diverged) {
    parts.diff = signed_fixed(cell.ours.value - cell.paper->value, digits);
  }
  return parts;
}

std::string cell_text(const ReportCell& cell, int digits) {
  const CellParts parts = cell_parts(cell, digits);
  if (!cell.paper) return parts.ours;
  std::string text = parts.ours + " / " + parts.paper;
  if (!parts.diff.empty()) text += " (" + parts.diff + ")";
  return text;
}

}  // namespace matquant::report
