// `matquant report --table N`: a paper table regenerated from the results database, with the
// paper's numbers side by side (experiments/tables/*.yaml, experiments/paper/*.csv).
#include "command_registry.h"

#include "common/error.h"
#include "common/task_names.h"
#include "report/generate.h"
#include "store/database.h"

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_report(const Args& args) {
  report::ReportRequest request;
  std::string format;
  std::string out_path;
  std::vector<std::string> models;
  std::vector<std::string> wheres;
  std::vector<std::string> metrics;
  po::options_description options("options");
  options.add_options()
      ("table", po::value(&request.table_id)->required(), "table id (the `table:` of a spec, e.g. 1, 2, 7)")
      ("db", po::value(&request.db_path), "results database (default results/matquant.sqlite)")
      ("format", po::value(&format)->default_value("md"), "md | latex | csv")
      ("out", po::value(&out_path), "write to FILE instead of standard output")
      ("model", po::value(&models)->composing(),
       "COLUMN=MODEL: read column COLUMN (a paper model key such as gemma-2-2b, or a new name) from our "
       "runs of MODEL; repeatable")
      ("only-models", po::bool_switch(&request.options.only_listed_models), "show only the --model columns")
      ("where", po::value(&wheres)->composing(),
       "KEY=VALUE: keep only runs whose param KEY is VALUE, in every cell (e.g. lambdas=[0.2,0.2,1]); repeatable")
      ("metric", po::value(&metrics)->composing(),
       "TASK=METRIC: read TASK's accuracy as METRIC (acc or acc_norm) instead of the spec's; repeatable")
      ("explain", po::bool_switch(&request.explain),
       "after the table, list every cell's filters, runs and jobs; shows ambiguous cells as '?' instead of failing")
      ("no-paper", po::bool_switch(), "leave out the paper's numbers")
      ("tables", po::value(&request.tables_dir)->default_value(report::kDefaultTablesDir), "table spec directory");
  po::variables_map vm;
  if (!parse_command_line("report", "--table N [--db PATH] [--format md|latex|csv] [--out FILE] [--model COLUMN=MODEL]... [--where KEY=VALUE]... "
                          "[--metric TASK=METRIC]... [--explain]",
                          options, {}, args, vm)) {
    return 0;
  }
  request.format = report::parse_report_format(format);
  request.options.show_paper = !vm["no-paper"].as<bool>();
  for (const std::string& mapping : models) request.options.models.push_back(
      report::parse_assignment("--model", "COLUMN=MODEL (e.g. gemma-2-2b=builtin:tiny-llama)", mapping));
  for (const std::string& where : wheres) {
    const auto [key, value] = report::parse_assignment("--where", "KEY=VALUE (e.g. lambdas=[0.2,0.2,1])", where);
    request.options.where[key].push_back(value);
  }
  for (const std::string& metric : metrics) {
    const auto [task, name] = report::parse_assignment("--metric", "TASK=METRIC (e.g. hellaswag=acc)", metric);
    if (!evaluation_task_names().count(task)) throw_usage("--metric " + metric + ": unknown task '" + task + "'");
    if (name != "acc" && name != "acc_norm") throw_usage("--metric " + metric + ": the metric is acc or acc_norm");
    request.options.metric_by_task[task] = name;
  }
  // The default database may not exist yet: the table then shows the paper's numbers only.
  request.allow_missing_db = request.db_path.empty();
  if (request.db_path.empty()) request.db_path = store::kDefaultDatabasePath;
  const std::string text = report::generate_report(request);
  if (out_path.empty()) {
    std::cout << text;
  } else {
    report::write_report_file(out_path, text);
    std::cerr << "wrote " << out_path << "\n";
  }
  return 0;
}

const RegisterCommand kRegister{
    {"report", "regenerate a paper table from the results database (md, latex, csv)", &run_report}};

}  // namespace
}  // namespace matquant::apps
