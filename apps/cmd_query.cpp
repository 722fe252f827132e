// `matquant query "SQL"`: one read-only SQL statement against the results database.
#include "command_registry.h"

#include "common/error.h"
#include "store/database.h"
#include "store/query.h"
#include "store/row_format.h"

#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_query_command(const Args& args) {
  std::string sql;
  std::string db_path;
  std::string format;
  double timeout = 300;
  po::options_description options("options");
  options.add_options()
      ("sql", po::value(&sql)->required(), "one SELECT (or read-only PRAGMA) statement")
      ("db", po::value(&db_path)->default_value(store::kDefaultDatabasePath), "results database")
      ("format", po::value(&format)->default_value("table"), "table | csv | json")
      ("timeout", po::value(&timeout)->default_value(300), "stop the query after SECONDS (0: no limit)");
  po::positional_options_description positional;
  positional.add("sql", 1);
  po::variables_map vm;
  if (!parse_command_line("query", "\"SQL\" [--db PATH] [--format table|csv|json] [--timeout SECONDS]", options, positional, args, vm)) {
    return 0;
  }
  const store::RowFormat row_format = store::parse_row_format(format);
  if (!(timeout >= 0)) throw_usage("--timeout takes seconds >= 0 (0: no limit)");
  store::Database db = store::Database::open_read_only(db_path);
  db.set_time_limit(timeout);
  store::QueryResult rows;
  try {
    rows = store::run_query(db, sql);
  } catch (const Error& e) {
    if (!db.time_limit_exceeded()) throw;
    std::ostringstream seconds;
    seconds << timeout;
    throw Error(ErrorCode::kInvalidInput, "query stopped after " + seconds.str() +
                                              " s (--timeout " + seconds.str() +
                                              "; a recursive CTE without an end?); raise --timeout, or 0 for no limit");
  }
  std::cout << store::format_rows(rows, row_format);
  return 0;
}

const RegisterCommand kRegister{
    {"query", "run one read-only SQL query on the results database (docs/results.md)", &run_query_command}};

}  // namespace
}  // namespace matquant::apps
