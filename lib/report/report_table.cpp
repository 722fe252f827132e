#include "report/report_table.h"

#include "common/error.h"

#include <algorithm>
#include <set>

namespace matquant::report {
namespace {

void merge(Filters& into, const Filters& from) {
  for (const auto& [key, values] : from) {
    if (std::find(values.begin(), values.end(), kAnyValue) != values.end()) {
      into.erase(key);
    } else {
      into[key] = values;
    }
  }
}

std::string effective_base(const TableSpec& spec, const ColumnSpec& column, const RowSpec& row) {
  if (!row.base.empty()) return row.base;
  if (!column.base.empty()) return column.base;
  return spec.base;
}

// The columns shown: the spec's, with our model names resolved and --model overrides applied.
std::vector<std::pair<ColumnSpec, std::vector<std::string>>> resolve_columns(const TableSpec& spec,
                                                                             const ReportOptions& options) {
  std::vector<std::pair<ColumnSpec, std::vector<std::string>>> columns;
  for (const ColumnSpec& column : spec.columns) {
    const auto mapped = spec.models.find(column.model);
    columns.emplace_back(column, mapped != spec.models.end() ? mapped->second : std::vector<std::string>{column.model});
  }
  std::set<std::string> overridden;
  std::set<std::string> listed;
  for (const auto& [key, model] : options.models) {
    listed.insert(key);
    auto it = std::find_if(columns.begin(), columns.end(), [&](const auto& c) { return c.first.model == key; });
    if (it == columns.end()) {
      ColumnSpec added;
      added.model = key;
      added.label = key;
      columns.emplace_back(added, std::vector<std::string>{});
      it = columns.end() - 1;
    }
    if (overridden.insert(key).second) it->second.clear();  // the first --model for a column replaces the spec's
    it->second.push_back(model);
  }
  if (options.only_listed_models) {
    columns.erase(std::remove_if(columns.begin(), columns.end(),
                                 [&](const auto& c) { return listed.count(c.first.model) == 0; }),
                  columns.end());
  }
  return columns;
}

}  // namespace

Filters cell_filters(const TableSpec& spec, const ColumnSpec& column, const std::vector<std::string>& models,
                     const RowSpec& row) {
  Filters filters;
  merge(filters, spec.where);
  if (!spec.base.empty()) filters["base"] = {spec.base};
  filters["model"] = models;
  if (!column.base.empty()) filters["base"] = {column.base};
  if (!column.variant.empty()) filters["variant"] = {column.variant};
  merge(filters, column.where);
  if (!row.variant.empty()) filters["variant"] = {row.variant};
  if (!row.base.empty()) filters["base"] = {row.base};
  merge(filters, row.where);
  return filters;
}

std::string cell_precision(const ColumnSpec& column, const RowSpec& row) { return column.precision_prefix + row.precision; }

PaperKey cell_paper_key(const TableSpec& spec, const ColumnSpec& column, const RowSpec& row, const MeasureSpec& measure) {
  return {spec.id, column.model, effective_base(spec, column, row), row.paper_variant, cell_precision(column, row),
          measure.key};
}

ReportTable build_report(const TableSpec& spec, const std::vector<RunRecord>& runs, const PaperNumbers* paper,
                         const ReportOptions& options) {
  ReportTable table;
  table.id = spec.id;
  table.title = spec.title;
  table.source = spec.source;
  table.row_header = spec.row_header;
  table.measures = spec.measures;
  const auto columns = resolve_columns(spec, options);
  if (columns.empty()) throw_usage("table " + spec.id + ": no columns left to show (check --model)");
  for (const auto& [column, models] : columns) table.groups.push_back({column.label, column.model, models});

  std::string section;
  for (const RowSpec& row : spec.rows) {
    ReportRow out;
    out.section_start = !row.section.empty();
    if (out.section_start) section = row.section;
    out.section = section;
    out.label = row.label;
    out.precision = row.precision;
    for (const auto& [column, models] : columns) {
      const Filters filters = cell_filters(spec, column, models, row);
      for (const MeasureSpec& measure : spec.measures) {
        ReportCell cell;
        cell.ours = models.empty() ? CellResult{} : select_cell(runs, filters, cell_precision(column, row), measure);
        if (paper != nullptr && options.show_paper) cell.paper = paper->find(cell_paper_key(spec, column, row, measure));
        table.has_paper = table.has_paper || cell.paper.has_value();
        out.cells.push_back(cell);
      }
    }
    table.rows.push_back(std::move(out));
  }
  return table;
}

std::vector<PaperKey> unused_paper_entries(const TableSpec& spec, const PaperNumbers& paper) {
  std::set<PaperKey> used;
  for (const RowSpec& row : spec.rows) {
    for (const ColumnSpec& column : spec.columns) {
      for (const MeasureSpec& measure : spec.measures) used.insert(cell_paper_key(spec, column, row, measure));
    }
  }
  std::vector<PaperKey> unused;
  for (const auto& [key, value] : paper.values()) {
    if (used.count(key) == 0) unused.push_back(key);
  }
  return unused;
}

}  // namespace matquant::report
