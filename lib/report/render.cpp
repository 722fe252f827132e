#include "report/render.h"

#include "common/error.h"

namespace matquant::report {

ReportFormat parse_report_format(const std::string& name) {
  if (name == "md" || name == "markdown") return ReportFormat::kMarkdown;
  if (name == "latex" || name == "tex") return ReportFormat::kLatex;
  if (name == "csv") return ReportFormat::kCsv;
  throw Error(ErrorCode::kUsage, "--format must be md, latex or csv, got '" + name + "'");
}

std::string render_report(const ReportTable& table, ReportFormat format) {
  switch (format) {
    case ReportFormat::kLatex:
      return render_latex(table);
    case ReportFormat::kCsv:
      return render_csv(table);
    case ReportFormat::kMarkdown:
    default:
      return render_markdown(table);
  }
}

}  // namespace matquant::report
