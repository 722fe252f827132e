#include "report/report_table.h"

#include "common/error.h"

#include "report/cell_text.h"

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

using ResolvedColumns = std::vector<std::pair<ColumnSpec, std::vector<std::string>>>;

// The columns shown: the spec's, with our model names resolved and --model overrides applied. A
// --model key the spec has no column for gets a copy of the first paper model's column groups
// (Table 4's OmniQuant and QAT), so the added columns select the same bases and variants.
ResolvedColumns resolve_columns(const TableSpec& spec, const ReportOptions& options) {
  ResolvedColumns columns;
  for (const ColumnSpec& column : spec.columns) {
    const auto mapped = spec.models.find(column.model);
    columns.emplace_back(column, mapped != spec.models.end() ? mapped->second : std::vector<std::string>{column.model});
  }
  const std::string first_model = spec.columns.empty() ? "" : spec.columns.front().model;
  std::set<std::string> overridden;
  std::set<std::string> listed;
  for (const auto& [key, model] : options.models) {
    listed.insert(key);
    const bool known = std::any_of(columns.begin(), columns.end(), [&](const auto& c) { return c.first.model == key; });
    if (!known) {
      for (const ColumnSpec& template_column : spec.columns) {
        if (template_column.model != first_model) continue;
        ColumnSpec added = template_column;
        added.model = key;
        columns.emplace_back(added, std::vector<std::string>{});
      }
    }
    for (auto& [column, models] : columns) {
      if (column.model != key) continue;
      if (!overridden.count(key)) models.clear();  // the first --model for a column replaces the spec's
      models.push_back(model);
    }
    overridden.insert(key);
  }
  if (options.only_listed_models) {
    columns.erase(std::remove_if(columns.begin(), columns.end(),
                                 [&](const auto& c) { return listed.count(c.first.model) == 0; }),
                  columns.end());
  }
  return columns;
}

std::string parameter_count_text(double parameters) {
  if (parameters >= 1e9) return fixed(parameters / 1e9, 1) + "B";
  if (parameters >= 1e6) return fixed(parameters / 1e6, 1) + "M";
  if (parameters >= 1e3) return fixed(parameters / 1e3, 1) + "K";
  return fixed(parameters, 0);
}

// Column groups per paper model: Table 4 has two (OmniQuant, QAT), most tables one. An added
// column (a --model key the spec lacks) copies the first model's groups.
size_t groups_per_model(const TableSpec& spec, const std::string& model) {
  const auto count = [&](const std::string& key) {
    return size_t(std::count_if(spec.columns.begin(), spec.columns.end(), [&](const ColumnSpec& c) { return c.model == key; }));
  };
  const size_t n = count(model);
  return n > 0 || spec.columns.empty() ? n : count(spec.columns.front().model);
}

// "ours: gemma2 5.8M | paper: Gemma-2 9B"; a model's sub-group label first where it has several
// ("OmniQuant (ours: ... | paper: ...)"); no paper part for columns the paper has no numbers for.
std::string group_header(const TableSpec& spec, const ColumnSpec& column, const std::vector<std::string>& models,
                         const std::vector<RunRecord>& runs, bool paper_shown) {
  std::string ours;
  for (const std::string& model : models) {
    const bool has_runs = std::any_of(runs.begin(), runs.end(), [&](const RunRecord& run) {
      const auto name = run_param(run, "model");
      return name && *name == model;
    });
    if (has_runs) ours += (ours.empty() ? "" : ", ") + our_model_label(model, runs);
  }
  if (ours.empty()) ours = "no runs";
  const bool several = groups_per_model(spec, column.model) > 1;
  const bool in_spec = std::any_of(spec.columns.begin(), spec.columns.end(),
                                   [&](const ColumnSpec& c) { return c.model == column.model; });
  std::string header = "ours: " + ours;
  if (paper_shown && in_spec) {
    const std::string known = paper_model_name(column.model);
    header += " | paper: " + (known != column.model || several ? known : column.label);
  }
  return several ? column.label + " (" + header + ")" : header;
}

void apply_metric_overrides(std::vector<MeasureSpec>& measures, const std::map<std::string, std::string>& by_task) {
  for (MeasureSpec& measure : measures) {
    for (const auto& [task, metric] : by_task) {
      if (std::find(measure.tasks.begin(), measure.tasks.end(), task) == measure.tasks.end()) continue;
      if (measure.mean_of_tasks) {
        measure.metric_by_task[task] = metric;
      } else {
        measure.metric = metric;
      }
    }
  }
}

}  // namespace

std::string paper_model_name(const std::string& key) {
  if (key == "gemma-2-2b") return "Gemma-2 2B";
  if (key == "gemma-2-9b") return "Gemma-2 9B";
  if (key == "mistral-7b") return "Mistral 7B";
  return key;
}

std::string our_model_label(const std::string& model, const std::vector<RunRecord>& runs) {
  std::string name = model;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (const auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  if (const auto colon = name.rfind(':'); colon != std::string::npos) name = name.substr(colon + 1);
  for (const RunRecord& run : runs) {
    const auto value = run_param(run, "model");
    if (!value || *value != model) continue;
    for (const RunMetric& metric : run.metrics) {
      if (metric.task == "weights" && metric.metric == "parameters" && metric.value) {
        return name + " " + parameter_count_text(*metric.value);
      }
    }
  }
  return name;
}

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
  // The loss weights the paper used for this model and variant, unless the cell names its own.
  const auto variant = filters.find("variant");
  if (variant != filters.end() && variant->second.size() == 1 && !column.where.count("lambdas") &&
      !row.where.count("lambdas")) {
    const std::string& name = variant->second.front();
    const auto from_column = column.lambdas.find(name);
    const auto from_table = spec.lambdas.find(name);
    if (from_column != column.lambdas.end()) {
      filters["lambdas"] = {from_column->second};
    } else if (from_table != spec.lambdas.end()) {
      filters["lambdas"] = {from_table->second};
    }
  }
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
  apply_metric_overrides(table.measures, options.metric_by_task);
  const auto columns = resolve_columns(spec, options);
  if (columns.empty()) throw_usage("table " + spec.id + ": no columns left to show (check --model)");
  const bool paper_shown = paper != nullptr && options.show_paper;
  for (const auto& [column, models] : columns) {
    table.groups.push_back({group_header(spec, column, models, runs, paper_shown), column.model, models});
  }

  std::string section;
  int fewest_documents = -1;
  for (const RowSpec& row : spec.rows) {
    ReportRow out;
    out.section_start = !row.section.empty();
    if (out.section_start) section = row.section;
    out.section = section;
    out.label = row.label;
    out.precision = row.precision;
    for (const auto& [column, models] : columns) {
      Filters filters = cell_filters(spec, column, models, row);
      merge(filters, options.where);
      for (const MeasureSpec& measure : table.measures) {
        ReportCell cell;
        cell.ours = models.empty() ? CellResult{} : select_cell(runs, filters, cell_precision(column, row), measure);
        if (cell.ours.state == CellState::kTooFewDocuments) {
          fewest_documents = fewest_documents < 0 ? cell.ours.documents : std::min(fewest_documents, cell.ours.documents);
        }
        if (paper_shown) cell.paper = paper->find(cell_paper_key(spec, column, row, measure));
        table.has_paper = table.has_paper || cell.paper.has_value();
        out.cells.push_back(cell);
      }
      table.filters.push_back(std::move(filters));
    }
    table.rows.push_back(std::move(out));
  }
  if (fewest_documents >= 0) {
    table.footnotes.push_back(std::string("n/a") + kTooFewDocumentsMark + ": accuracy over fewer than " +
                              std::to_string(kMinDocuments) + " documents per task (as few as " +
                              std::to_string(fewest_documents) + "): fixture task files, not a measurement.");
  }
  return table;
}

std::vector<std::string> ambiguous_cells(const ReportTable& table) {
  std::vector<std::string> out;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    for (size_t g = 0; g < table.groups.size(); ++g) {
      for (size_t m = 0; m < table.measures.size(); ++m) {
        const CellResult& ours = table.cell(r, g, m).ours;
        if (ours.state != CellState::kAmbiguous) continue;
        std::string runs;
        for (const CellSource& source : ours.sources) {
          runs += (runs.empty() ? "" : ", ") + (source.run_name.empty() ? source.run_key.substr(0, 12) : source.run_name);
        }
        std::string differences;
        for (const std::string& d : ours.differences) differences += (differences.empty() ? "" : "; ") + d;
        out.push_back("table " + table.id + ": row '" + table.rows[r].section + " " + table.rows[r].label +
                      "', column '" + table.groups[g].model + "', " + table.measures[m].key +
                      ": several configurations match (runs " + runs + "), differing in " + differences);
        break;  // the measures of one cell share their runs
      }
    }
  }
  return out;
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
