#pragma once
// A paper table's layout, read from experiments/tables/*.yaml: the row and column keys, and how
// each cell is selected from the results database (docs/results.md "Table specs").
//
// A cell is (row, column group, measure). Its database selection is the runs whose params match
// the merged filters (table `where` and `base`, column `model`/`base`/`where`, row
// `variant`/`base`/`where`; later ones override, "*" removes a filter; a plain-MatQuant cell
// that names no lambdas gets the column's or the table's `lambdas`), read at the row's
// precision label; its paper number is the CSV entry (table, model, base, variant, precision,
// measure key).
#include <map>
#include <string>
#include <vector>

namespace matquant::report {

// Param key (dotted, as in the params table) -> accepted values. Values are compared as text,
// then as JSON ("[0.1,0.1,1]" equals "[0.1, 0.1, 1.0]"), then ignoring spaces.
using Filters = std::map<std::string, std::vector<std::string>>;

inline constexpr const char* kAnyValue = "*";

// Variant -> lambdas text ("[0.1,0.1,1]"). In YAML, a list alone means {matquant: list}.
using LambdasByVariant = std::map<std::string, std::string>;

struct MeasureSpec {
  std::string key;    // paper CSV column ("task_avg", "log_pplx", "avg_bits")
  std::string label;  // header text
  int digits = 2;     // decimals shown
  double scale = 1.0;  // applied to our values (accuracies are stored as fractions, printed as %)
  std::string metric;  // metric name, or the default for mean_of tasks
  std::map<std::string, std::string> metric_by_task;  // mean_of: per-task metric overrides
  std::vector<std::string> tasks;  // single: the first task with a value wins; mean_of: all required
  bool mean_of_tasks = false;
};

struct ColumnSpec {
  std::string model;  // the paper's model key (gemma-2-9b); mapped to our model names by `models`
  std::string label;
  std::string base;   // overrides the table's base (Table 4 has OmniQuant and QAT columns)
  // Column groups that compare variants (Table 8: MatQuant | E.P. MatQuant): the variant filter
  // for rows that name none, and a prefix for the rows' precision labels ("ep-" reads ep-int2).
  std::string variant;
  std::string precision_prefix;
  // The loss weights of this model's runs per variant (the paper's differ per model: Mistral
  // 7B's MatQuant numbers are its (0.4, 0.4, 1) runs); entries override the table's `lambdas`.
  LambdasByVariant lambdas;
  Filters where;
};

struct RowSpec {
  std::string section;    // first label column ("int4"); carried to following rows
  std::string label;      // second label column ("MatQuant")
  std::string precision;  // precision label read from metrics (int4, ep-int2, bf16)
  std::string variant;    // params filter and paper key; "" = any variant (the bfloat16 row)
  std::string paper_variant;  // paper key when it differs ("matquant(0.2,0.2,1)")
  std::string base;       // overrides table/column base
  Filters where;
  long line = 0;
};

struct TableSpec {
  std::string id;     // "1" for `matquant report --table 1`
  std::string title;
  std::string source;  // where the paper's numbers are from ("Table 1, seeds/001")
  std::string paper_csv;  // resolved path of the paper numbers, "" if none
  std::string base;
  // `lambdas` filter for cells whose variant filter is exactly one of these variants and that
  // name no lambdas themselves (columns may override it): the paper's (0.1, 0.1, 1) for
  // MatQuant, (1, 1, 1) for Extra-Precision MatQuant.
  LambdasByVariant lambdas;
  Filters where;
  std::map<std::string, std::vector<std::string>> models;  // paper model key -> our model names
  std::vector<std::string> row_header;  // labels of the two row-label columns
  std::vector<ColumnSpec> columns;
  std::vector<MeasureSpec> measures;
  std::vector<RowSpec> rows;
  std::string path;
};

// Parses a spec; every problem found is reported at once as "SOURCE:LINE: FIELD: message" lines.
// `paper:` is resolved relative to `spec_dir`.
TableSpec parse_table_spec(const std::string& yaml_text, const std::string& source, const std::string& spec_dir);
TableSpec load_table_spec(const std::string& path);

// Specs in a directory (*.yaml, sorted), and the one whose `table:` id is `id`.
std::vector<std::string> list_table_specs(const std::string& tables_dir);
std::string find_table_spec(const std::string& tables_dir, const std::string& id);

}  // namespace matquant::report
