#pragma once
// Renderers for a filled-in paper table.
#include "report/report_table.h"

#include <string>

namespace matquant::report {

enum class ReportFormat { kMarkdown, kLatex, kCsv };

// "md" (or "markdown") | "latex" | "csv"; throws kUsage otherwise.
ReportFormat parse_report_format(const std::string& name);

// A heading, the legend when paper numbers are shown, and a padded pipe table (labels left,
// numbers right-aligned); the section label is printed on a section's first row only.
std::string render_markdown(const ReportTable& table);
// A booktabs table: model groups over \cmidrule'd measure headers, \midrule between sections.
std::string render_latex(const ReportTable& table);
// Long format, one line per cell, full precision, for plotting and diffs:
// table,section,row,precision,model,column,ours,paper,diff,runs,state
std::string render_csv(const ReportTable& table);

std::string render_report(const ReportTable& table, ReportFormat format);

// Markdown list, one entry per (row, column group): the filters, the configuration count and the
// runs and jobs behind the cell (`matquant report --explain`).
std::string render_explanation(const ReportTable& table);

}  // namespace matquant::report
