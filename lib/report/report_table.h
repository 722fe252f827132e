#pragma once
// A paper table filled in: our value for every cell, the paper's beside it where it has one.
// Renderers (render.h) turn it into Markdown, LaTeX or CSV.
#include "report/cell_selection.h"
#include "report/paper_numbers.h"
#include "report/run_records.h"
#include "report/table_spec.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace matquant::report {

struct ReportOptions {
  // (column, model): our model name for a column's paper model key ("gemma-2-2b" =
  // "builtin:tiny-llama"); given for a column replaces the spec's `models` entry, given for an
  // unknown key adds a column of that name (with no paper numbers).
  std::vector<std::pair<std::string, std::string>> models;
  bool only_listed_models = false;  // show only the columns named in `models`
  bool show_paper = true;
  Filters where;  // --where KEY=VALUE: applied to every cell, over the spec's own filters
  std::map<std::string, std::string> metric_by_task;  // --metric TASK=METRIC: overrides the spec's
};

struct ReportCell {
  CellResult ours;
  std::optional<PaperValue> paper;
};

struct ReportGroup {
  std::string label;                // header: "ours: gemma2 5.8M | paper: Gemma-2 9B"
  std::string model;                // paper model key
  std::vector<std::string> models;  // our model names selected for it
};

struct ReportRow {
  std::string section;  // carried forward from the last row that named one
  std::string label;
  std::string precision;
  bool section_start = false;
  std::vector<ReportCell> cells;  // group-major: cells[g * measures.size() + m]
};

struct ReportTable {
  std::string id;
  std::string title;
  std::string source;
  std::vector<std::string> row_header;
  std::vector<ReportGroup> groups;
  std::vector<MeasureSpec> measures;
  std::vector<ReportRow> rows;
  std::vector<Filters> filters;  // per (row, group), row-major: what each cell selected
  std::vector<std::string> footnotes;
  bool has_paper = false;  // at least one cell has a paper number

  const ReportCell& cell(size_t row, size_t group, size_t measure) const {
    return rows[row].cells[group * measures.size() + measure];
  }
};

// `paper` may be null (no numbers for this table, or --no-paper).
ReportTable build_report(const TableSpec& spec, const std::vector<RunRecord>& runs, const PaperNumbers* paper,
                         const ReportOptions& options);

// "Gemma-2 9B" for the paper's model keys; other keys as given.
std::string paper_model_name(const std::string& key);

// How a model of ours is named in a header: the last path component, and the parameter count
// when its runs recorded one ("gemma2 5.8M").
std::string our_model_label(const std::string& model, const std::vector<RunRecord>& runs);

// The cells that match several configurations, one line each (row, column, the params that
// differ); empty when every cell selects at most one configuration.
std::vector<std::string> ambiguous_cells(const ReportTable& table);

// The database filters of one cell (see table_spec.h for the merge order).
Filters cell_filters(const TableSpec& spec, const ColumnSpec& column, const std::vector<std::string>& models,
                     const RowSpec& row);

// The precision label a cell reads: the row's, after the column's precision_prefix.
std::string cell_precision(const ColumnSpec& column, const RowSpec& row);

// The paper CSV key of one cell (its precision is cell_precision).
PaperKey cell_paper_key(const TableSpec& spec, const ColumnSpec& column, const RowSpec& row, const MeasureSpec& measure);

// Paper entries that no cell of the spec reads (a transcription or spec mistake).
std::vector<PaperKey> unused_paper_entries(const TableSpec& spec, const PaperNumbers& paper);

}  // namespace matquant::report
