#include "report/cell_selection.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

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

// Training diverged, or this precision's evaluation did: the cell prints "-".
bool diverged_at(const RunRecord& run, const std::string& precision) {
  if (run.jobs.empty()) return run.status == "diverged";
  return std::any_of(run.jobs.begin(), run.jobs.end(), [&](const RunJob& job) {
    return job.status == "diverged" && (job.kind == "train" || job.precision == precision);
  });
}

}  // namespace

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
  static const std::map<std::string, std::string> kDefaults = {
      {"model", "builtin:tiny-llama"}, {"base", "qat"},   {"variant", "matquant"}, {"bits", "[8,4,2]"},
      {"source_bits", "8"},            {"scope", "ffn"},  {"distillation", ""},    {"group_size", "0"},
      {"seed", "0"}};
  const auto fallback = kDefaults.find(key);
  if (fallback == kDefaults.end()) return std::nullopt;
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

CellResult measure_run(const RunRecord& run, const std::string& precision, const MeasureSpec& measure) {
  const CellResult diverged{CellState::kDiverged, 0.0, 0};
  if (measure.mean_of_tasks) {
    double sum = 0.0;
    for (const std::string& task : measure.tasks) {
      const auto named = measure.metric_by_task.find(task);
      const std::string& metric = named != measure.metric_by_task.end() ? named->second : measure.metric;
      const RunMetric* found = find_metric(run, precision, task, metric);
      if (found == nullptr) return diverged_at(run, precision) ? diverged : CellResult{};
      if (!found->value) return diverged;
      sum += *found->value;
    }
    return {CellState::kValue, measure.scale * sum / double(measure.tasks.size()), 1};
  }
  for (const std::string& task : measure.tasks) {
    const RunMetric* found = find_metric(run, precision, task, measure.metric);
    if (found == nullptr) continue;
    if (!found->value) return diverged;
    return {CellState::kValue, measure.scale * *found->value, 1};
  }
  return diverged_at(run, precision) ? diverged : CellResult{};
}

CellResult select_cell(const std::vector<RunRecord>& runs, const Filters& filters, const std::string& precision,
                       const MeasureSpec& measure) {
  CellResult cell;
  double sum = 0.0;
  bool any_diverged = false;
  for (const RunRecord& run : runs) {
    if (!run_matches(run, filters)) continue;
    const CellResult one = measure_run(run, precision, measure);
    if (one.state == CellState::kValue) {
      sum += one.value;
      ++cell.runs;
    } else if (one.state == CellState::kDiverged) {
      any_diverged = true;
    }
  }
  if (cell.runs > 0) {
    cell.state = CellState::kValue;
    cell.value = sum / cell.runs;
  } else if (any_diverged) {
    cell.state = CellState::kDiverged;
  }
  return cell;
}

}  // namespace matquant::report
