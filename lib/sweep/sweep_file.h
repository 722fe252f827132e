#pragma once
// A sweep file (docs/sweeps.md): a base config plus axes, read from YAML with every value's
// file:line:column kept for messages. Structure problems are collected, not thrown one by one.
#include "sweep/run_spec.h"
#include "sweep/slurm_client.h"

#include <string>
#include <vector>

namespace matquant::sweep {

// One way an axis can go: the fields it sets and the text it contributes to derived names.
struct AxisPoint {
  FlatSpec values;
  std::string label;
};

// A grid axis, or a zip group (its lists move together, so it is one axis of tuples).
struct Axis {
  std::string name;  // the field key, the bundle name, or "zip1", "zip2", ...
  std::vector<AxisPoint> points;
};

// A rule that drops every expanded run whose fields match all of its entries.
struct ExcludeRule {
  FlatSpec any_of;  // each value is a list of accepted values
  std::string origin;
};

struct ReportSpec {
  std::string table;
  std::vector<std::pair<std::string, std::string>> columns;  // paper model key -> our model
  std::string origin;
};

// The `executor:` block: where `sweep run` sends the jobs unless the command line says otherwise.
struct ExecutorSpec {
  std::string type;  // "" (not given), local or slurm
  SlurmOptions slurm;
  std::string origin;
};

struct SweepDefinition {
  std::string name;
  std::string file;
  std::string name_template;  // "" = derived from the varying axes
  FlatSpec config;
  std::vector<Axis> axes;     // grid axes then zip groups, in file order
  std::vector<ExcludeRule> excludes;
  std::vector<FlatSpec> includes;
  std::vector<std::string> include_origins;
  std::vector<int64_t> seeds;  // empty = the config's seed only
  std::vector<ReportSpec> reports;
  ExecutorSpec executor;
};

// Parses the YAML text; every problem found is appended to `errors` as "FILE:LINE:COL: FIELD: message".
SweepDefinition parse_sweep(const std::string& yaml_text, const std::string& file, std::vector<std::string>& errors);

// Reads and parses a file; a missing file throws kNotFound.
SweepDefinition read_sweep_file(const std::string& path, std::vector<std::string>& errors);

}  // namespace matquant::sweep
