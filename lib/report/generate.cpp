#include "report/generate.h"

#include "common/error.h"
#include "report/paper_numbers.h"
#include "report/run_records.h"
#include "report/table_spec.h"
#include "store/database.h"

#include <boost/filesystem.hpp>

#include <fstream>
#include <optional>

namespace fs = boost::filesystem;

namespace matquant::report {

std::string generate_report(const ReportRequest& request) {
  const TableSpec spec = load_table_spec(find_table_spec(request.tables_dir, request.table_id));
  std::vector<RunRecord> runs;
  if (!request.allow_missing_db || fs::exists(request.db_path)) {
    const store::Database db = store::Database::open_read_only(request.db_path);
    runs = load_run_records(db);
  }
  std::optional<PaperNumbers> paper;
  if (!spec.paper_csv.empty() && request.options.show_paper) paper = PaperNumbers::load(spec.paper_csv);
  const ReportTable table = build_report(spec, runs, paper ? &*paper : nullptr, request.options);
  if (request.explain) return render_report(table, request.format) + render_explanation(table);
  const std::vector<std::string> ambiguous = ambiguous_cells(table);
  if (!ambiguous.empty()) {
    std::string message;
    for (const std::string& line : ambiguous) message += line + "\n";
    throw Error(ErrorCode::kInvalidInput,
                message + "a cell must select one configuration (seeds are its only replicates): narrow it with "
                          "--where KEY=VALUE or a `where:` in " + spec.path + "; --explain shows every cell's runs");
  }
  return render_report(table, request.format);
}

std::pair<std::string, std::string> parse_assignment(const std::string& option, const std::string& form,
                                                     const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size()) {
    throw_usage(option + " takes " + form + ", got '" + text + "'");
  }
  return {text.substr(0, equals), text.substr(equals + 1)};
}

void write_report_file(const std::string& path, const std::string& text) {
  const fs::path target(path);
  boost::system::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const fs::path temporary = target.string() + ".tmp";
  {
    std::ofstream out(temporary.string(), std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error(ErrorCode::kIo, "cannot write " + temporary.string());
  }
  fs::rename(temporary, target, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temporary, ec);
    throw Error(ErrorCode::kIo, "cannot write " + path + ": " + reason);
  }
}

}  // namespace matquant::report
