#pragma once
// `matquant report` as one library call: find the table spec, read the database (read-only) and
// the paper's numbers, render.
#include "report/render.h"
#include "report/report_table.h"

#include <string>
#include <utility>

namespace matquant::report {

inline constexpr const char* kDefaultTablesDir = "experiments/tables";

struct ReportRequest {
  std::string table_id;
  std::string tables_dir = kDefaultTablesDir;
  std::string db_path;
  // When the database file does not exist: render the paper's numbers with our cells empty
  // (true, for the default path) or fail with kNotFound (false, for a path the user named).
  bool allow_missing_db = false;
  ReportFormat format = ReportFormat::kMarkdown;
  ReportOptions options;
  // Append, for every cell, the runs behind it; ambiguous cells are shown (as '?') instead of
  // failing the report.
  bool explain = false;
};

// Throws kInvalidInput, one line per cell, when a cell matches several configurations (unless
// `explain`): a cell is never a mean over different configurations.
std::string generate_report(const ReportRequest& request);

// "NAME=VALUE" as given to --model, --where and --metric; throws kUsage naming `option` and the
// expected `form` ("COLUMN=MODEL (e.g. gemma-2-2b=builtin:tiny-llama)") otherwise.
std::pair<std::string, std::string> parse_assignment(const std::string& option, const std::string& form,
                                                     const std::string& text);

// Writes via a temporary file and a rename, so a failed write leaves no half-written report.
void write_report_file(const std::string& path, const std::string& text);

}  // namespace matquant::report
