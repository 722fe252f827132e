#include "report/table_spec.h"

#include "common/error.h"
#include "common/utf8_check.h"

#include <boost/filesystem.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = boost::filesystem;

namespace matquant::report {
namespace {

// Reads YAML nodes, collecting every problem so a spec is fixed in one pass.
class SpecReader {
 public:
  explicit SpecReader(std::string source) : source_(std::move(source)) {}

  void error(const YAML::Node& node, const std::string& field, const std::string& message) {
    const long line = node.IsDefined() && node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    errors_.push_back(located_message(source_, line, field, message));
  }

  void check_keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& allowed) {
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>();
      if (allowed.count(key) == 0) error(entry.first, where + key, "unknown field");
    }
  }

  bool require_map(const YAML::Node& node, const std::string& field) {
    if (node.IsMap()) return true;
    error(node, field, "expected a mapping");
    return false;
  }

  std::string text(const YAML::Node& map, const std::string& key, const std::string& where, bool required,
                   const std::string& fallback = "") {
    const YAML::Node node = map[key];
    if (!node.IsDefined() || node.IsNull()) {
      if (required) error(map, where + key, "missing required field");
      return fallback;
    }
    if (!node.IsScalar()) {
      error(node, where + key, "expected a single value");
      return fallback;
    }
    return node.as<std::string>();
  }

  // `lambdas:` as a list (MatQuant's weights) or a map from variant to list.
  LambdasByVariant lambdas(const YAML::Node& map, const std::string& where) {
    LambdasByVariant out;
    const YAML::Node node = map["lambdas"];
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!node.IsMap()) {
      out["matquant"] = number_list(node, where + "lambdas");
      return out;
    }
    for (const auto& entry : node) {
      const std::string variant = entry.first.as<std::string>();
      out[variant] = number_list(entry.second, where + "lambdas." + variant);
    }
    return out;
  }

  // A flat list of numbers as "[a,b,c]" (a quoted "[0.1,0.1,1]" is taken as written).
  std::string number_list(const YAML::Node& node, const std::string& field) {
    if (node.IsScalar()) return node.as<std::string>();
    if (!node.IsSequence()) {
      error(node, field, "expected a list of loss weights, e.g. [0.1, 0.1, 1]");
      return "";
    }
    std::string out = "[";
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) {
        error(node[i], field, "expected a list of loss weights, e.g. [0.1, 0.1, 1]");
        return "";
      }
      out += (i ? "," : "") + node[i].as<std::string>();
    }
    return out + "]";
  }

  std::vector<std::string> text_list(const YAML::Node& node, const std::string& field) {
    std::vector<std::string> out;
    if (node.IsScalar()) return {node.as<std::string>()};
    if (!node.IsSequence()) {
      error(node, field, "expected a value or a list of values");
      return out;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) {
        error(node[i], field + "[" + std::to_string(i) + "]", "expected a single value");
        continue;
      }
      out.push_back(node[i].as<std::string>());
    }
    return out;
  }

  Filters filters(const YAML::Node& map, const std::string& where) {
    Filters out;
    const YAML::Node node = map["where"];
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!require_map(node, where + "where")) return out;
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      out[key] = text_list(entry.second, where + "where." + key);
    }
    return out;
  }

  int integer(const YAML::Node& map, const std::string& key, const std::string& where, int fallback) {
    const YAML::Node node = map[key];
    if (!node.IsDefined()) return fallback;
    try {
      return node.as<int>();
    } catch (const YAML::Exception&) {
      error(node, where + key, "expected an integer");
      return fallback;
    }
  }

  double number(const YAML::Node& map, const std::string& key, const std::string& where, double fallback) {
    const YAML::Node node = map[key];
    if (!node.IsDefined()) return fallback;
    try {
      return node.as<double>();
    } catch (const YAML::Exception&) {
      error(node, where + key, "expected a number");
      return fallback;
    }
  }

  void finish() const {
    if (errors_.empty()) return;
    std::string message;
    for (const auto& e : errors_) message += (message.empty() ? "" : "\n") + e;
    throw Error(ErrorCode::kInvalidInput, message);
  }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

MeasureSpec read_measure(SpecReader& reader, const YAML::Node& node, const std::string& where) {
  MeasureSpec measure;
  if (!reader.require_map(node, where)) return measure;
  reader.check_keys(node, where + ".", {"key", "label", "digits", "scale", "metric", "task", "mean_of"});
  measure.key = reader.text(node, "key", where + ".", true);
  measure.label = reader.text(node, "label", where + ".", false, measure.key);
  measure.digits = reader.integer(node, "digits", where + ".", 2);
  measure.scale = reader.number(node, "scale", where + ".", 1.0);
  const YAML::Node metric = node["metric"];
  if (metric.IsMap()) {
    for (const auto& entry : metric) {
      const std::string task = entry.first.as<std::string>();
      if (!entry.second.IsScalar()) {
        reader.error(entry.second, where + ".metric." + task, "expected a metric name");
        continue;
      }
      measure.metric_by_task[task] = entry.second.as<std::string>();
    }
  } else {
    measure.metric = reader.text(node, "metric", where + ".", true);
  }
  const bool has_task = node["task"].IsDefined();
  const bool has_mean = node["mean_of"].IsDefined();
  if (has_task == has_mean) {
    reader.error(node, where, "give exactly one of 'task' (a task, or tasks tried in order) and 'mean_of' (tasks averaged)");
  } else if (has_task) {
    measure.tasks = reader.text_list(node["task"], where + ".task");
  } else {
    measure.tasks = reader.text_list(node["mean_of"], where + ".mean_of");
    measure.mean_of_tasks = true;
  }
  if (!measure.mean_of_tasks && !measure.metric_by_task.empty()) {
    reader.error(node, where + ".metric", "a per-task metric map needs 'mean_of'");
  }
  if (measure.metric.empty()) {
    for (const auto& task : measure.tasks) {
      if (measure.metric_by_task.count(task) == 0) reader.error(node, where + ".metric", "no metric for task '" + task + "'");
    }
  }
  return measure;
}

}  // namespace

TableSpec parse_table_spec(const std::string& yaml_text, const std::string& source, const std::string& spec_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorCode::kInvalidInput, located_message(source, e.mark.line + 1, "", "not valid YAML: " + e.msg));
  }
  SpecReader reader(source);
  TableSpec spec;
  spec.path = source;
  if (!root.IsMap()) {
    reader.error(root, "", "expected a mapping with table, title, columns, measures and rows");
    reader.finish();
  }
  reader.check_keys(root, "", {"table", "title", "source", "paper", "base", "lambdas", "where", "models",
                               "row_header", "columns", "measures", "rows"});
  spec.id = reader.text(root, "table", "", true);
  spec.title = reader.text(root, "title", "", true);
  spec.source = reader.text(root, "source", "", false);
  spec.base = reader.text(root, "base", "", false);
  spec.lambdas = reader.lambdas(root, "");
  spec.where = reader.filters(root, "");
  const std::string paper = reader.text(root, "paper", "", false);
  if (!paper.empty()) spec.paper_csv = (fs::path(spec_dir) / paper).lexically_normal().string();

  if (const YAML::Node models = root["models"]; models.IsDefined() && reader.require_map(models, "models")) {
    for (const auto& entry : models) {
      const std::string key = entry.first.as<std::string>();
      spec.models[key] = reader.text_list(entry.second, "models." + key);
    }
  }
  spec.row_header = {"", ""};
  if (const YAML::Node header = root["row_header"]; header.IsDefined()) {
    spec.row_header = reader.text_list(header, "row_header");
    if (spec.row_header.size() != 2) reader.error(header, "row_header", "expected two labels (section and row)");
    spec.row_header.resize(2);
  }

  const YAML::Node columns = root["columns"];
  if (!columns.IsSequence() || columns.size() == 0) {
    reader.error(columns.IsDefined() ? columns : root, "columns", "expected a non-empty list of column groups");
  } else {
    for (size_t i = 0; i < columns.size(); ++i) {
      const std::string where = "columns[" + std::to_string(i) + "]";
      ColumnSpec column;
      if (!reader.require_map(columns[i], where)) continue;
      reader.check_keys(columns[i], where + ".", {"model", "label", "base", "variant", "precision_prefix", "lambdas", "where"});
      column.model = reader.text(columns[i], "model", where + ".", true);
      column.label = reader.text(columns[i], "label", where + ".", false, column.model);
      column.base = reader.text(columns[i], "base", where + ".", false);
      column.variant = reader.text(columns[i], "variant", where + ".", false);
      column.precision_prefix = reader.text(columns[i], "precision_prefix", where + ".", false);
      column.lambdas = reader.lambdas(columns[i], where + ".");
      column.where = reader.filters(columns[i], where + ".");
      spec.columns.push_back(column);
    }
  }

  const YAML::Node measures = root["measures"];
  if (!measures.IsSequence() || measures.size() == 0) {
    reader.error(measures.IsDefined() ? measures : root, "measures", "expected a non-empty list of measures");
  } else {
    for (size_t i = 0; i < measures.size(); ++i) {
      spec.measures.push_back(read_measure(reader, measures[i], "measures[" + std::to_string(i) + "]"));
    }
  }

  const YAML::Node rows = root["rows"];
  if (!rows.IsSequence() || rows.size() == 0) {
    reader.error(rows.IsDefined() ? rows : root, "rows", "expected a non-empty list of rows");
  } else {
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string where = "rows[" + std::to_string(i) + "]";
      RowSpec row;
      if (!reader.require_map(rows[i], where)) continue;
      reader.check_keys(rows[i], where + ".", {"section", "label", "precision", "variant", "paper_variant", "base", "where"});
      row.section = reader.text(rows[i], "section", where + ".", false);
      row.label = reader.text(rows[i], "label", where + ".", false);
      row.precision = reader.text(rows[i], "precision", where + ".", true);
      row.variant = reader.text(rows[i], "variant", where + ".", false);
      row.paper_variant = reader.text(rows[i], "paper_variant", where + ".", false, row.variant);
      row.base = reader.text(rows[i], "base", where + ".", false);
      row.where = reader.filters(rows[i], where + ".");
      row.line = rows[i].Mark().line + 1;
      spec.rows.push_back(row);
    }
  }
  reader.finish();
  return spec;
}

TableSpec load_table_spec(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "no table spec " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (const std::string problem = utf8_error_message(text.str(), path); !problem.empty()) {
    throw Error(ErrorCode::kInvalidInput, problem);
  }
  return parse_table_spec(text.str(), path, fs::path(path).parent_path().string());
}

std::vector<std::string> list_table_specs(const std::string& tables_dir) {
  if (!fs::is_directory(tables_dir)) throw Error(ErrorCode::kNotFound, "no table spec directory " + tables_dir);
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(tables_dir)) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string find_table_spec(const std::string& tables_dir, const std::string& id) {
  const fs::path direct = fs::path(tables_dir) / ("table" + id + ".yaml");
  if (fs::exists(direct) && load_table_spec(direct.string()).id == id) return direct.string();
  std::string known;
  for (const auto& path : list_table_specs(tables_dir)) {
    const TableSpec spec = load_table_spec(path);
    if (spec.id == id) return path;
    known += (known.empty() ? "" : ", ") + spec.id;
  }
  throw Error(ErrorCode::kNotFound, "no table spec with 'table: " + id + "' in " + tables_dir + " (known: " + known + ")");
}

}  // namespace matquant::report
