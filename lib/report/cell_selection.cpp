#include "report/cell_selection.h"

#include "quant/precision_label.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace matquant::report {
namespace {

std::string without_spaces(std::string text) {
  text.erase(std::remove_if(text.begin(), text.end(), [](char c) { return c == ' '; }), text.end());
  return text;
}

const RunMetric* find_metric(const RunRecord& run, const std::string& precision, const std::string& task,
                             const std::string& metric) {
  for (const RunMetric& m : run.metrics) {
    if (m.precision == precision && m.task == task && m.metric == metric) return &m;
  }
  return nullptr;
}

// Training diverged, or this precision's evaluation did: the cell prints "-". The bfloat16
// evaluation reads the unquantized model, which a diverged quantized training never touched.
bool diverged_at(const RunRecord& run, const std::string& precision) {
  const bool trained_precision = quant::needs_training(precision);
  if (run.jobs.empty()) return run.status == "diverged" && trained_precision;
  return std::any_of(run.jobs.begin(), run.jobs.end(), [&](const RunJob& job) {
    return job.status == "diverged" && ((job.kind == "train" && trained_precision) || job.precision == precision);
  });
}

// The document count a task was scored on, when the evaluation recorded it (older databases did not).
std::optional<int> task_documents(const RunRecord& run, const std::string& precision, const std::string& task) {
  const RunMetric* documents = find_metric(run, precision, task, "documents");
  if (documents == nullptr || !documents->value) return std::nullopt;
  return static_cast<int>(*documents->value);
}

const std::map<std::string, std::string>& contract_defaults() {
  static const std::map<std::string, std::string> kDefaults = {
      {"model", "builtin:tiny-llama"}, {"base", "qat"},   {"variant", "matquant"}, {"bits", "[8,4,2]"},
      {"source_bits", "8"},            {"scope", "ffn"},  {"distillation", ""},    {"group_size", "0"},
      {"seed", "0"},                   {"smoothing", "none"}, {"format", "int"},   {"eval.activations", "none"}};
  return kDefaults;
}

// A run's params without the replicate ones; a field the spec left out counts as its default.
std::map<std::string, std::string> configuration_params(const RunRecord& run) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : contract_defaults()) {
    if (!is_replicate_param(key)) out[key] = value;
  }
  for (const auto& [key, value] : run.params) {
    if (!is_replicate_param(key)) out[key] = value.value_or("null");
  }
  return out;
}

std::string configuration_text(const std::map<std::string, std::string>& params) {
  std::string text;
  for (const auto& [key, value] : params) text += key + "=" + value + ";";
  return text;
}

// The params whose values differ between configurations, "key: a | b" each.
std::vector<std::string> differing_params(const std::vector<std::map<std::string, std::string>>& configurations) {
  std::set<std::string> keys;
  for (const auto& c : configurations) {
    for (const auto& entry : c) keys.insert(entry.first);
  }
  std::vector<std::string> out;
  for (const std::string& key : keys) {
    std::vector<std::string> values;
    for (const auto& c : configurations) {
      const auto it = c.find(key);
      const std::string value = it == c.end() ? "(unset)" : it->second.empty() ? "\"\"" : it->second;
      if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
    }
    if (values.size() < 2) continue;
    std::sort(values.begin(), values.end());
    std::string line = key + ": ";
    for (size_t i = 0; i < values.size(); ++i) line += (i ? " | " : "") + values[i];
    out.push_back(line);
  }
  return out;
}

}  // namespace

std::string paper_accuracy_metric(const std::string& task) { return task == "hellaswag" ? "acc_norm" : "acc"; }

bool is_replicate_param(const std::string& key) { return key == "seed" || key == "name" || key == "eval.precisions"; }

bool param_matches(const std::string& param, const std::string& wanted) {
  if (param == wanted) return true;
  const auto a = nlohmann::json::parse(param, nullptr, false);
  const auto b = nlohmann::json::parse(wanted, nullptr, false);
  if (!a.is_discarded() && !b.is_discarded() && a == b) return true;
  return without_spaces(param) == without_spaces(wanted);
}

std::optional<std::string> run_param(const RunRecord& run, const std::string& key) {
  const auto it = run.params.find(key);
  if (it != run.params.end()) return it->second;
  const auto fallback = contract_defaults().find(key);
  if (fallback == contract_defaults().end()) return std::nullopt;
  return fallback->second;
}

bool run_matches(const RunRecord& run, const Filters& filters) {
  for (const auto& [key, accepted] : filters) {
    const std::optional<std::string> value = run_param(run, key);
    if (!value) return false;
    if (std::none_of(accepted.begin(), accepted.end(), [&](const std::string& w) { return param_matches(*value, w); })) {
      return false;
    }
  }
  return true;
}

CellResult measure_run(const RunRecord& run, const std::string& precision, const MeasureSpec& measure,
                       std::string* job_key) {
  const CellResult diverged{CellState::kDiverged, 0.0, 0};
  const auto record_job = [&](const RunMetric& m) {
    if (job_key != nullptr && job_key->empty()) *job_key = m.job_key;
  };
  std::optional<int> fewest_documents;
  const auto note_documents = [&](const std::string& task) {
    const std::optional<int> documents = task_documents(run, precision, task);
    if (documents && (!fewest_documents || *documents < *fewest_documents)) fewest_documents = documents;
  };
  const auto value_cell = [&](double value) {
    CellResult cell{CellState::kValue, value, 1};
    if (fewest_documents && *fewest_documents < kMinDocuments) {
      cell.state = CellState::kTooFewDocuments;
      cell.documents = *fewest_documents;
    }
    return cell;
  };
  if (measure.mean_of_tasks) {
    double sum = 0.0;
    for (const std::string& task : measure.tasks) {
      const auto named = measure.metric_by_task.find(task);
      const std::string& metric = named != measure.metric_by_task.end() ? named->second : measure.metric;
      const RunMetric* found = find_metric(run, precision, task, metric);
      if (found == nullptr) return diverged_at(run, precision) ? diverged : CellResult{};
      if (!found->value) return diverged;
      record_job(*found);
      note_documents(task);
      sum += *found->value;
    }
    return value_cell(measure.scale * sum / double(measure.tasks.size()));
  }
  for (const std::string& task : measure.tasks) {
    const RunMetric* found = find_metric(run, precision, task, measure.metric);
    if (found == nullptr) continue;
    if (!found->value) return diverged;
    record_job(*found);
    note_documents(task);
    return value_cell(measure.scale * *found->value);
  }
  return diverged_at(run, precision) ? diverged : CellResult{};
}

std::vector<std::string> configuration_differences(const std::vector<const RunRecord*>& runs) {
  std::map<std::string, std::map<std::string, std::string>> distinct;
  for (const RunRecord* run : runs) {
    auto params = configuration_params(*run);
    distinct.emplace(configuration_text(params), std::move(params));
  }
  std::vector<std::map<std::string, std::string>> configurations;
  for (auto& entry : distinct) configurations.push_back(std::move(entry.second));
  return configurations.size() > 1 ? differing_params(configurations) : std::vector<std::string>{};
}

CellResult select_cell(const std::vector<RunRecord>& runs, const Filters& filters, const std::string& precision,
                       const MeasureSpec& measure) {
  // One measurement per measuring job (a bf16 evaluation shared by many runs counts once), each
  // tied to the configurations of the runs that point at it.
  struct Measurement {
    CellResult result;
    std::set<std::string> configurations;
  };
  std::map<std::string, Measurement> measurements;
  std::map<std::string, std::map<std::string, std::string>> configuration_of;  // text -> params
  CellResult cell;
  for (const RunRecord& run : runs) {
    if (!run_matches(run, filters)) continue;
    std::string job;
    const CellResult one = measure_run(run, precision, measure, &job);
    if (one.state == CellState::kMissing) continue;
    const auto params = configuration_params(run);
    const std::string configuration = configuration_text(params);
    configuration_of.emplace(configuration, params);
    cell.sources.push_back({run.name, run.run_key, job, one.state, one.value, configuration});
    Measurement& m = measurements[job.empty() ? "run:" + run.run_key : job];
    if (m.configurations.empty()) m.result = one;
    m.configurations.insert(configuration);
  }
  // Configurations joined by a shared measurement are one; more than one group is ambiguous.
  std::vector<std::set<std::string>> groups;
  for (const auto& [id, m] : measurements) {
    std::set<std::string> merged = m.configurations;
    for (auto it = groups.begin(); it != groups.end();) {
      const bool overlaps = std::any_of(it->begin(), it->end(), [&](const std::string& c) { return merged.count(c) > 0; });
      if (overlaps) {
        merged.insert(it->begin(), it->end());
        it = groups.erase(it);
      } else {
        ++it;
      }
    }
    groups.push_back(std::move(merged));
  }
  if (groups.size() > 1) {
    std::vector<std::map<std::string, std::string>> representatives;
    for (const auto& group : groups) representatives.push_back(configuration_of.at(*group.begin()));
    cell.state = CellState::kAmbiguous;
    cell.differences = differing_params(representatives);
    return cell;
  }
  double sum = 0.0;
  bool any_diverged = false;
  std::optional<int> too_few;
  for (const auto& [id, m] : measurements) {
    if (m.result.state == CellState::kValue) {
      sum += m.result.value;
      ++cell.runs;
    } else if (m.result.state == CellState::kTooFewDocuments) {
      too_few = std::min(too_few.value_or(m.result.documents), m.result.documents);
    } else if (m.result.state == CellState::kDiverged) {
      any_diverged = true;
    }
  }
  if (cell.runs > 0) {
    cell.state = CellState::kValue;
    cell.value = sum / cell.runs;
  } else if (too_few) {
    cell.state = CellState::kTooFewDocuments;
    cell.documents = *too_few;
  } else if (any_diverged) {
    cell.state = CellState::kDiverged;
  }
  return cell;
}

}  // namespace matquant::report
