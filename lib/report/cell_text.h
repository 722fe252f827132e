#pragma once
// How a cell reads in the human formats: ours alone, or "ours / paper (ours - paper)".
// "-" is a diverged run (ours or the paper's), "n/a" a cell we have not run beside a paper number,
// and a blank a cell neither has.
#include "report/report_table.h"

#include <string>

namespace matquant::report {

inline constexpr const char* kCellLegend =
    "Cells: ours / paper (ours - paper); '-' diverged, 'n/a' not run.";

// Marks an accuracy measured on too few documents to mean anything (fixture task files).
inline constexpr const char* kTooFewDocumentsMark = "*";

std::string fixed(double value, int digits);        // "2.830"
std::string signed_fixed(double value, int digits);  // "+1.04", "-0.45", "+0.00" (never "-0.00")

std::string ours_text(const CellResult& ours, int digits, bool beside_paper);

struct CellParts {
  std::string ours;   // "52.37", "-", "n/a" or ""
  std::string paper;  // as printed, "" when the paper has no number here
  std::string diff;   // "+1.04" when both are numbers, else ""
};

CellParts cell_parts(const ReportCell& cell, int digits);

// The parts joined for Markdown and plain text.
std::string cell_text(const ReportCell& cell, int digits);

}  // namespace matquant::report
