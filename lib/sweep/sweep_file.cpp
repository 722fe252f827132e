#include "sweep/sweep_file.h"

#include "common/error.h"
#include "sweep/run_names.h"
#include "sweep/spec_fields.h"
#include "sweep/yaml_document.h"

#include <boost/filesystem.hpp>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace matquant::sweep {
namespace {

using nlohmann::json;

const std::set<std::string> kTopLevelKeys = {"sweep", "config",  "grid",   "zip",     "exclude",
                                             "include", "seeds", "name", "report", "executor"};

class SweepReader {
 public:
  SweepReader(std::string file, std::vector<std::string>& errors) : file_(std::move(file)), errors_(errors) {}

  std::string origin(const YAML::Node& node) const {
    const auto mark = node.Mark();
    if (mark.line < 0) return file_;
    return file_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }

  void error(const YAML::Node& node, const std::string& field, const std::string& message) {
    errors_.push_back(origin(node) + ": " + field + ": " + message);
  }

  // YAML scalars keep their quoting: a quoted "8" stays text, a plain 8 is a number.
  json to_json(const YAML::Node& node) {
    if (node.IsSequence()) {
      json out = json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    if (node.IsMap()) {
      json out = json::object();
      for (const auto& entry : node) out[entry.first.as<std::string>()] = to_json(entry.second);
      return out;
    }
    if (!node.IsScalar()) return nullptr;
    const std::string text = node.Scalar();
    if (node.Tag() == "!") return text;
    if (text == "true" || text == "True") return true;
    if (text == "false" || text == "False") return false;
    if (text == "~" || text == "null") return nullptr;
    try {
      size_t used = 0;
      const long long integer = std::stoll(text, &used);
      if (used == text.size()) return integer;
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      const double number = std::stod(text, &used);
      if (used == text.size()) return number;
    } catch (const std::exception&) {
    }
    return text;
  }

  // A mapping of spec fields, nested sections ("train: {steps: 10}") or dotted keys
  // ("train.steps: 10"), flattened to dotted keys. Unknown keys are reported with a suggestion.
  void read_fields(const YAML::Node& map, const std::string& prefix, FlatSpec& out) {
    for (const auto& entry : map) {
      const std::string key = prefix + entry.first.as<std::string>();
      if (entry.second.IsMap() && is_spec_section(key)) {
        read_fields(entry.second, key + ".", out);
        continue;
      }
      SpecValue value{to_json(entry.second), origin(entry.second)};
      SpecValue checked = value;
      if (out.count(key)) {  // "train: {steps: 1}" and "train.steps: 2" in one mapping
        errors_.push_back(origin(entry.first) + ": " + key + ": given twice (first at " + out.at(key).origin + ")");
        continue;
      }
      if (!find_spec_field(key)) {
        const std::string suggestion = closest_spec_key(key);
        errors_.push_back(origin(entry.first) + ": " + key + ": unknown field" +
                          (suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)"));
        continue;
      }
      if (coerce_field_value(key, checked, errors_)) out[key] = value;
    }
  }

  void read_config(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) return error(node, "config", "expected a mapping of run spec fields");
    read_fields(node, "", sweep.config);
  }

  // grid: FIELD: [v1, v2] (an axis over one field), or NAME: [{field: v, ...}, ...] (a bundle axis
  // whose points set several fields; a point's `label` names it in derived run names).
  void read_grid(const YAML::Node& node, const std::string& prefix, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) return error(node, "grid", "expected a mapping of axes (FIELD: [values])");
    for (const auto& entry : node) {
      const std::string key = prefix + entry.first.as<std::string>();
      if (entry.second.IsMap() && is_spec_section(key)) {
        read_grid(entry.second, key + ".", sweep);
        continue;
      }
      if (!entry.second.IsSequence() || entry.second.size() == 0) {
        error(entry.second, "grid." + key, "an axis is a non-empty list of values");
        continue;
      }
      Axis axis{key, {}};
      const bool bundle = !find_spec_field(key) && entry.second[0].IsMap();
      for (size_t i = 0; i < entry.second.size(); ++i) {
        const YAML::Node item = entry.second[i];
        AxisPoint point;
        if (bundle) {
          if (!item.IsMap()) {
            error(item, "grid." + key, "every point of a bundle axis is a mapping of fields");
            continue;
          }
          YAML::Node fields = YAML::Clone(item);
          if (item["label"]) {
            point.label = item["label"].as<std::string>();
            fields.remove("label");
          } else {
            point.label = key + std::to_string(i + 1);
          }
          read_fields(fields, "", point.values);
        } else {
          if (!find_spec_field(key)) {
            const std::string suggestion = closest_spec_key(key);
            error(entry.first, "grid." + key,
                  "unknown field" + (suggestion.empty() ? std::string() : " (did you mean '" + suggestion + "'?)"));
            break;
          }
          SpecValue value{to_json(item), origin(item)};
          SpecValue checked = value;
          if (!coerce_field_value(key, checked, errors_)) continue;
          point.values[key] = value;
          point.label = label_text(checked.value);
        }
        axis.points.push_back(std::move(point));
      }
      if (!axis.points.empty()) sweep.axes.push_back(std::move(axis));
    }
  }

  // zip: a list of groups; in each group every field has a list of the same length.
  void read_zip(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    std::vector<YAML::Node> groups;  // one group may be written without the enclosing list
    if (node.IsMap()) {
      groups.push_back(node);
    } else if (node.IsSequence()) {
      for (const auto& group : node) groups.push_back(group);
    } else {
      return error(node, "zip", "expected a list of groups (FIELD: [values] each)");
    }
    int index = 0;
    for (const auto& group : groups) {
      ++index;
      const std::string where = "zip[" + std::to_string(index) + "]";
      if (!group.IsMap()) {
        error(group, where, "expected a mapping FIELD: [values]");
        continue;
      }
      FlatSpec lists;
      std::vector<std::string> order;  // file order, for derived names
      read_fields_as_lists(group, "", lists, where, order);
      size_t length = 0;
      bool consistent = true;
      for (const auto& [key, list] : lists) {
        if (length == 0) length = list.value.size();
        if (list.value.size() != length) {
          errors_.push_back(list.origin + ": " + where + "." + key + ": has " + std::to_string(list.value.size()) +
                            " values where the group's first list has " + std::to_string(length));
          consistent = false;
        }
      }
      if (!consistent || lists.empty()) continue;
      Axis axis{"zip" + std::to_string(index), {}};
      for (size_t i = 0; i < length; ++i) {
        AxisPoint point;
        for (const auto& key : order) {
          const SpecValue& list = lists.at(key);
          SpecValue value{list.value[i], list.origin};
          SpecValue checked = value;
          if (!coerce_field_value(key, checked, errors_)) continue;
          point.values[key] = value;
          point.label += (point.label.empty() ? "" : "-") + label_text(checked.value);
        }
        axis.points.push_back(std::move(point));
      }
      sweep.axes.push_back(std::move(axis));
    }
  }

  void read_fields_as_lists(const YAML::Node& map, const std::string& prefix, FlatSpec& out, const std::string& where,
                            std::vector<std::string>& order) {
    for (const auto& entry : map) {
      const std::string key = prefix + entry.first.as<std::string>();
      if (entry.second.IsMap() && is_spec_section(key)) {
        read_fields_as_lists(entry.second, key + ".", out, where, order);
        continue;
      }
      if (!find_spec_field(key)) {
        const std::string suggestion = closest_spec_key(key);
        error(entry.first, where + "." + key,
              "unknown field" + (suggestion.empty() ? std::string() : " (did you mean '" + suggestion + "'?)"));
        continue;
      }
      if (!entry.second.IsSequence()) {
        error(entry.second, where + "." + key, "expected a list of values");
        continue;
      }
      out[key] = {to_json(entry.second), origin(entry.second)};
      order.push_back(key);
    }
  }

  void read_excludes(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsSequence()) return error(node, "exclude", "expected a list of field patterns");
    for (const auto& rule_node : node) {
      if (!rule_node.IsMap()) {
        error(rule_node, "exclude", "each rule is a mapping FIELD: value (or [values])");
        continue;
      }
      ExcludeRule rule{{}, origin(rule_node)};
      FlatSpec raw;
      read_fields_unchecked(rule_node, "", raw);
      for (auto& [key, value] : raw) {
        SpecValue any{json::array(), value.origin};
        const json alternatives = value.value.is_array() && !value.value.empty() && !value.value[0].is_array() &&
                                          !(find_spec_field(key) && is_list_field(key))
                                      ? value.value
                                      : json::array({value.value});
        bool ok = true;
        for (const auto& alternative : alternatives) {
          SpecValue one{alternative, value.origin};
          ok = coerce_field_value(key, one, errors_) && ok;
          any.value.push_back(one.value);
        }
        if (ok) rule.any_of[key] = any;
      }
      sweep.excludes.push_back(std::move(rule));
    }
  }

  void read_fields_unchecked(const YAML::Node& map, const std::string& prefix, FlatSpec& out) {
    for (const auto& entry : map) {
      const std::string key = prefix + entry.first.as<std::string>();
      if (entry.second.IsMap() && is_spec_section(key)) {
        read_fields_unchecked(entry.second, key + ".", out);
      } else {
        out[key] = {to_json(entry.second), origin(entry.second)};
      }
    }
  }

  void read_includes(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsSequence()) return error(node, "include", "expected a list of extra points (mappings of fields)");
    for (const auto& point : node) {
      if (!point.IsMap()) {
        error(point, "include", "each extra point is a mapping of fields");
        continue;
      }
      FlatSpec values;
      read_fields(point, "", values);
      sweep.includes.push_back(std::move(values));
      sweep.include_origins.push_back(origin(point));
    }
  }

  void read_seeds(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    const YAML::Node list = node.IsSequence() ? node : YAML::Node();
    if (!node.IsSequence()) return error(node, "seeds", "expected a list of integers");
    std::set<int64_t> seen;
    for (const auto& item : list) {
      const json value = to_json(item);
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        error(item, "seeds", "expected a non-negative integer, got " + value.dump().substr(0, 80));
        continue;
      }
      if (!seen.insert(value.get<int64_t>()).second) error(item, "seeds", "seed listed twice");
      sweep.seeds.push_back(value.get<int64_t>());
    }
  }

  void read_reports(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsSequence()) return error(node, "report", "expected a list of {table: ID, columns: {PAPER_MODEL: OUR_MODEL}}");
    for (const auto& item : node) {
      if (!item.IsMap() || !item["table"] || !item["table"].IsScalar()) {
        error(item, "report", "each entry needs `table: ID`");
        continue;
      }
      ReportSpec report{item["table"].Scalar(), {}, origin(item)};
      for (const auto& entry : item) {
        const std::string key = entry.first.as<std::string>();
        if (key != "table" && key != "columns") error(entry.first, "report." + key, "unknown field (table, columns)");
      }
      if (item["columns"]) {
        if (!item["columns"].IsMap()) {
          error(item["columns"], "report.columns", "expected a mapping PAPER_MODEL: OUR_MODEL");
        } else {
          for (const auto& c : item["columns"]) report.columns.emplace_back(c.first.as<std::string>(), c.second.as<std::string>());
        }
      }
      sweep.reports.push_back(std::move(report));
    }
  }

  // executor: {type: slurm, partition: P, account: A, qos: Q, time: T, gpus_per_job: N,
  //            cpus_per_job: N, sbatch_args: [...]}
  void read_executor(const YAML::Node& node, SweepDefinition& sweep) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) return error(node, "executor", "expected a mapping such as {type: slurm, partition: gpu}");
    ExecutorSpec& spec = sweep.executor;
    spec.origin = origin(node);
    const auto text = [&](const YAML::Node& value, const std::string& field, std::string& out) {
      if (!value.IsScalar()) return error(value, field, "expected text");
      out = value.Scalar();
    };
    const auto count = [&](const YAML::Node& value, const std::string& field, int& out) {
      const json number = to_json(value);
      if (!number.is_number_integer() || number.get<int64_t>() < 0 || number.get<int64_t>() > 4096) {
        return error(value, field, "expected a whole number from 0 to 4096");
      }
      out = int(number.get<int64_t>());
    };
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      const std::string field = "executor." + key;
      if (key == "type") {
        text(entry.second, field, spec.type);
        if (spec.type != "local" && spec.type != "slurm") error(entry.second, field, "must be local or slurm");
      } else if (key == "partition") {
        text(entry.second, field, spec.slurm.partition);
      } else if (key == "account") {
        text(entry.second, field, spec.slurm.account);
      } else if (key == "qos") {
        text(entry.second, field, spec.slurm.qos);
      } else if (key == "time") {
        text(entry.second, field, spec.slurm.time);
      } else if (key == "gpus_per_job") {
        count(entry.second, field, spec.slurm.gpus_per_job);
      } else if (key == "cpus_per_job") {
        count(entry.second, field, spec.slurm.cpus_per_job);
      } else if (key == "sbatch_args") {
        if (!entry.second.IsSequence()) {
          error(entry.second, field, "expected a list of sbatch arguments");
          continue;
        }
        for (const auto& item : entry.second) {
          std::string arg;
          text(item, field, arg);
          spec.slurm.sbatch_args.push_back(arg);
        }
      } else {
        error(entry.first, field, "unknown field (type, partition, account, qos, time, gpus_per_job, cpus_per_job, sbatch_args)");
      }
    }
    if (spec.type.empty()) error(node, "executor.type", "missing (local or slurm)");
  }

  static std::string label_text(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_array()) {
      std::string out;
      for (const auto& item : value) out += (out.empty() ? "" : "_") + label_text(item);
      return out;
    }
    return value.dump();
  }

 private:
  static bool is_list_field(const std::string& key) {
    const SpecField* field = find_spec_field(key);
    return field && (field->type == FieldType::kIntList || field->type == FieldType::kNumberList ||
                     field->type == FieldType::kStringList);
  }

  std::string file_;
  std::vector<std::string>& errors_;
};

// The top-level keys, each section read by its reader.
void read_sections(const YAML::Node& root, const std::string& file, SweepDefinition& sweep,
                   std::vector<std::string>& errors) {
  SweepReader reader(file, errors);
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    if (!kTopLevelKeys.count(key)) {
      const bool is_field = find_spec_field(key) || is_spec_section(key);
      reader.error(entry.first, key,
                   is_field ? "unknown top-level key; run spec fields go under `config:`"
                            : "unknown top-level key (sweep, config, grid, zip, exclude, include, seeds, name, report, executor)");
    }
  }
  for (const char* key : {"sweep", "name"}) {
    if (root[key] && !root[key].IsScalar()) reader.error(root[key], key, "expected text");
  }
  if (root["sweep"] && root["sweep"].IsScalar()) sweep.name = root["sweep"].Scalar();
  if (root["name"] && root["name"].IsScalar()) sweep.name_template = root["name"].Scalar();
  reader.read_config(root["config"], sweep);
  reader.read_grid(root["grid"], "", sweep);
  reader.read_zip(root["zip"], sweep);
  reader.read_excludes(root["exclude"], sweep);
  reader.read_includes(root["include"], sweep);
  reader.read_seeds(root["seeds"], sweep);
  reader.read_reports(root["report"], sweep);
  reader.read_executor(root["executor"], sweep);
  const std::string problem = name_problem(sweep.name);
  if (!problem.empty()) {
    errors.push_back((root["sweep"] ? reader.origin(root["sweep"]) : file) + ": sweep: the sweep name '" + sweep.name +
                     "' " + problem);
  }
}

}  // namespace

SweepDefinition parse_sweep(const std::string& yaml_text, const std::string& file, std::vector<std::string>& errors) {
  SweepDefinition sweep;
  sweep.file = file;
  sweep.name = boost::filesystem::path(file).stem().string();
  const size_t errors_before = errors.size();
  const YAML::Node root = load_yaml_document(yaml_text, file, errors);
  if (errors.size() != errors_before) return sweep;
  if (!root.IsMap()) {
    errors.push_back(file + ": expected a mapping with config, grid, zip, exclude, include, seeds, name, report");
    return sweep;
  }
  try {
    read_sections(root, file, sweep, errors);
  } catch (const YAML::Exception& e) {  // a value of the wrong kind where text was expected
    errors.push_back(file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return sweep;
}

SweepDefinition read_sweep_file(const std::string& path, std::vector<std::string>& errors) {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(ErrorCode::kNotFound, "sweep file " + path + " does not exist");
  if (fs::is_directory(status)) throw Error(ErrorCode::kInvalidInput, path + " is a directory; give a sweep file (YAML)");
  // Refused before reading, so a huge file (or /dev/zero) is never loaded into memory.
  const YamlLimits limits;
  if (fs::is_regular_file(status) && fs::file_size(path, ec) > limits.max_bytes) {
    errors.push_back(path + ": " + std::to_string(fs::file_size(path, ec)) + " bytes, larger than the limit of " +
                     std::to_string(limits.max_bytes) + " bytes for a sweep file");
    return SweepDefinition{};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read sweep file " + path);
  std::string text(limits.max_bytes + 1, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  return parse_sweep(text, path, errors);
}

}  // namespace matquant::sweep
