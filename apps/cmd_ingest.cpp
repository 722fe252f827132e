// `matquant ingest RESULT.json...`: the single writer's ingest, for result files made elsewhere
// (another machine, a cluster job array). Idempotent: a file already ingested changes nothing.
#include "command_registry.h"

#include "store/database.h"
#include "store/ingest.h"

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_ingest_command(const Args& args) {
  std::vector<std::string> files;
  std::string db_path;
  std::string sweep;
  po::options_description options("options");
  options.add_options()
      ("result", po::value(&files)->multitoken()->required(), "result.json files (docs/contracts.md)")
      ("db", po::value(&db_path)->default_value(store::kDefaultDatabasePath), "results database")
      ("sweep", po::value(&sweep)->default_value(""), "sweep name to file the runs under");
  po::positional_options_description positional;
  positional.add("result", -1);
  po::variables_map vm;
  if (!parse_command_line("ingest", "RESULT.json... [--db PATH] [--sweep NAME]", options, positional, args, vm)) {
    return 0;
  }
  store::Database db = store::Database::open(db_path);
  for (const auto& file : files) {
    const auto result = store::ingest_result_file(db, file, sweep);
    std::cout << file << ": job " << result.job_key.substr(0, 12) << " " << result.status << ", "
              << result.metrics << " metrics" << (result.changed ? "" : " (already stored)") << "\n";
  }
  return 0;
}

const RegisterCommand kRegister{
    {"ingest", "store result.json files in the results database (idempotent)", &run_ingest_command}};

}  // namespace
}  // namespace matquant::apps
