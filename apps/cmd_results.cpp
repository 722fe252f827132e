// `matquant results list|show`: the runs in the results database, and one run in detail.
#include "command_registry.h"

#include "common/error.h"
#include "store/database.h"
#include "store/row_format.h"
#include "store/run_queries.h"

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

constexpr const char* kUsage =
    "list [--sweep S] [--status S] [--db PATH] [--format table|csv|json]\n"
    "       matquant results show RUN_KEY_OR_NAME [--db PATH] [--format table|json]";

int run_results(const Args& args) {
  std::string action;
  std::string run;
  std::string db_path;
  std::string format;
  store::RunListFilter filter;
  po::options_description options("options");
  options.add_options()
      ("action", po::value(&action)->required(), "list | show")
      ("run", po::value(&run), "show: run key, unique key prefix or run name")
      ("sweep", po::value(&filter.sweep), "list: only runs of this sweep")
      ("status", po::value(&filter.status), "list: only runs with this status (planned, running, done, failed, diverged)")
      ("db", po::value(&db_path)->default_value(store::kDefaultDatabasePath), "results database")
      ("format", po::value(&format)->default_value("table"), "table | csv | json");
  po::positional_options_description positional;
  positional.add("action", 1).add("run", 1);
  po::variables_map vm;
  if (!parse_command_line("results", kUsage, options, positional, args, vm)) return 0;
  const store::RowFormat row_format = store::parse_row_format(format);
  const store::Database db = store::Database::open_read_only(db_path);
  if (action == "list") {
    if (!run.empty()) throw_usage("matquant results list takes no run (did you mean 'results show'?)");
    std::cout << store::format_rows(store::list_runs(db, filter), row_format);
  } else if (action == "show") {
    if (run.empty()) throw_usage("matquant results show needs RUN_KEY_OR_NAME");
    std::cout << store::format_run_details(store::show_run(db, run), row_format);
  } else {
    throw_usage("matquant results: unknown action '" + action + "' (list or show)");
  }
  return 0;
}

const RegisterCommand kRegister{{"results", "list runs in the results database, or show one run", &run_results}};

}  // namespace
}  // namespace matquant::apps
