#include "sweep/expand.h"

#include "common/error.h"
#include "sweep/input_checks.h"
#include "sweep/run_keys.h"
#include "sweep/run_names.h"

#include <tbb/parallel_for.h>

#include <limits>
#include <map>
#include <set>

namespace matquant::sweep {
namespace {

using nlohmann::json;

struct Candidate {
  FlatSpec values;
  std::vector<std::pair<std::string, std::string>> labels;  // axis name -> point label, every axis
  std::vector<std::string> name_parts;  // labels of the axes that vary: the default run name
  std::string origin;
};

std::string value_label(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) out += (out.empty() ? "" : "_") + value_label(item);
    return out;
  }
  return value.dump();
}

bool matches(const ExcludeRule& rule, const json& spec) {
  for (const auto& [key, any] : rule.any_of) {
    const json& actual = spec_at(spec, key);
    bool hit = false;
    for (const auto& accepted : any.value) hit = hit || accepted == actual;
    if (!hit) return false;
  }
  return !rule.any_of.empty();
}

// "{base}-{variant}-{bits}": spec fields (dotted) or axis names.
std::string render_name(const std::string& pattern, const json& spec, const Candidate& candidate,
                        const std::string& origin, std::vector<std::string>& errors) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const size_t close = pattern.find('}', i);
    if (close == std::string::npos) {
      errors.push_back(origin + ": name: unclosed '{' in '" + pattern + "'");
      return out;
    }
    const std::string key = pattern.substr(i + 1, close - i - 1);
    bool found = false;
    for (const auto& [axis, label] : candidate.labels) {
      if (axis == key) {
        out += label;
        found = true;
      }
    }
    if (!found) {
      const json& value = spec_at(spec, key);
      if (value.is_null()) {
        errors.push_back(origin + ": name: '{" + key + "}' is neither a spec field nor an axis");
      } else {
        out += value_label(value);
      }
    }
    i = close;
  }
  return out;
}

std::vector<Candidate> grid_candidates(const SweepDefinition& sweep) {
  std::vector<Candidate> out;
  std::vector<size_t> index(sweep.axes.size(), 0);
  while (true) {
    Candidate candidate{sweep.config, {}, {}, sweep.file};
    for (size_t a = 0; a < sweep.axes.size(); ++a) {
      const AxisPoint& point = sweep.axes[a].points[index[a]];
      for (const auto& [key, value] : point.values) candidate.values[key] = value;
      candidate.labels.emplace_back(sweep.axes[a].name, point.label);
      if (sweep.axes[a].points.size() > 1) candidate.name_parts.push_back(point.label);
    }
    out.push_back(std::move(candidate));
    size_t a = sweep.axes.size();
    while (a > 0) {  // odometer: the last axis moves fastest
      --a;
      if (++index[a] < sweep.axes[a].points.size()) break;
      index[a] = 0;
      if (a == 0) return out;
    }
    if (sweep.axes.empty()) return out;
  }
}

size_t saturating_product(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return std::numeric_limits<size_t>::max();
  return a * b;
}

// "grid 100 x 100 x 100, 2 include point(s), x 3 seeds" for the run-count message.
std::string count_breakdown(const SweepDefinition& definition) {
  std::string axes;
  for (const auto& axis : definition.axes) axes += (axes.empty() ? "" : " x ") + std::to_string(axis.points.size());
  std::string out = "grid " + (axes.empty() ? std::string("1") : axes);
  if (!definition.includes.empty()) out += ", " + std::to_string(definition.includes.size()) + " include point(s)";
  if (!definition.seeds.empty()) out += ", x " + std::to_string(definition.seeds.size()) + " seeds";
  return out;
}

}  // namespace

size_t planned_run_count(const SweepDefinition& definition) {
  size_t grid = 1;
  for (const auto& axis : definition.axes) grid = saturating_product(grid, axis.points.size());
  const size_t points = grid > std::numeric_limits<size_t>::max() - definition.includes.size()
                            ? std::numeric_limits<size_t>::max()
                            : grid + definition.includes.size();
  return saturating_product(points, std::max<size_t>(1, definition.seeds.size()));
}

SweepPlan expand_sweep(const SweepDefinition& definition, std::vector<std::string>& errors, const PlanOptions& options) {
  SweepPlan plan;
  plan.definition = definition;
  const size_t count = planned_run_count(definition);
  if (count > options.max_runs) {
    const std::string shown = count == std::numeric_limits<size_t>::max() ? "more than 10^19" : std::to_string(count);
    errors.push_back(definition.file + ": the sweep expands to " + shown + " runs (" + count_breakdown(definition) +
                     "), more than the limit of " + std::to_string(options.max_runs) +
                     "; check the axes, or pass --max-runs N to allow more");
    return plan;
  }
  std::vector<Candidate> candidates = grid_candidates(definition);
  const size_t grid_count = candidates.size();
  for (size_t i = 0; i < definition.includes.size(); ++i) {
    Candidate candidate{definition.config, {}, {}, definition.include_origins[i]};
    std::string label;
    for (const auto& [key, value] : definition.includes[i]) {
      candidate.values[key] = value;
      if (key != "name") label += (label.empty() ? "" : "-") + value_label(value.value);
    }
    candidate.labels.emplace_back("include", label);
    candidate.name_parts.push_back(label);
    candidates.push_back(std::move(candidate));
  }
  if (!definition.seeds.empty()) {
    std::vector<Candidate> seeded;
    for (const auto& candidate : candidates) {
      for (int64_t seed : definition.seeds) {
        Candidate copy = candidate;
        copy.values["seed"] = {seed, definition.file};
        if (definition.seeds.size() > 1) copy.name_parts.push_back("s" + std::to_string(seed));
        seeded.push_back(std::move(copy));
      }
    }
    candidates = std::move(seeded);
  }

  // Completing and hashing is independent per run; large grids (thousands of points) use every core.
  std::vector<json> specs(candidates.size());
  std::vector<std::vector<std::string>> problems(candidates.size());
  tbb::parallel_for(size_t(0), candidates.size(), [&](size_t i) {
    specs[i] = complete_spec(candidates[i].values, candidates[i].origin, problems[i]);
  });

  std::set<std::string> reported;
  const auto report = [&](const std::string& message) {
    if (reported.insert(message).second) errors.push_back(message);
  };
  std::set<std::string> keys;
  std::map<std::string, int> name_uses;
  std::set<std::string> checked_inputs;  // "KEY\nVALUE": each distinct input is looked at once
  for (size_t i = 0; i < candidates.size(); ++i) {
    for (const auto& p : problems[i]) report(p);
    if (!problems[i].empty()) continue;
    json& spec = specs[i];
    if (i < grid_count * std::max<size_t>(1, definition.seeds.size()) || definition.includes.empty()) {
      bool excluded = false;
      for (const auto& rule : definition.excludes) excluded = excluded || matches(rule, spec);
      if (excluded) {
        ++plan.excluded;
        continue;
      }
    }
    const std::string key = run_key(spec);
    if (!keys.insert(key).second) {
      ++plan.duplicates;
      continue;
    }
    std::string name = spec.value("name", "");
    if (name.empty()) {
      std::vector<std::string> name_errors;
      if (!definition.name_template.empty()) {
        name = render_name(definition.name_template, spec, candidates[i], definition.file, name_errors);
      } else {
        for (const auto& part : candidates[i].name_parts) name += (name.empty() ? "" : "-") + part;
        if (name.empty()) name = "run";
        name = definition.name + "/" + name;
      }
      for (const auto& e : name_errors) report(e);
    }
    if (++name_uses[name] > 1) name += "-" + std::to_string(name_uses[name]);
    const std::string name_error = name_problem(name);
    if (!name_error.empty()) {
      const auto given = candidates[i].values.find("name");
      const std::string origin = given != candidates[i].values.end() ? given->second.origin : candidates[i].origin;
      report(origin + ": name: run name '" + name + "' " + name_error +
             (given == candidates[i].values.end() ? "; set `name:` or give the axis points labels" : ""));
      continue;
    }
    if (options.check_inputs) {
      for (const char* key : kInputFields) {
        const std::string value = spec_at(spec, key).get<std::string>();
        if (!checked_inputs.insert(std::string(key) + "\n" + value).second) continue;
        const std::string problem = missing_input(key, value);
        if (problem.empty()) continue;
        const auto given = candidates[i].values.find(key);
        report((given != candidates[i].values.end() ? given->second.origin : candidates[i].origin) + ": " + key + ": " + problem);
      }
      for (const auto& entry : spec_at(spec, "eval.task_files")) {
        const std::string value = entry.get<std::string>();
        if (!checked_inputs.insert("eval.task_files\n" + value).second) continue;
        const std::string problem = missing_input("eval.task_files", value);
        if (problem.empty()) continue;
        const auto given = candidates[i].values.find("eval.task_files");
        report((given != candidates[i].values.end() ? given->second.origin : candidates[i].origin) +
               ": eval.task_files: " + problem);
      }
    }
    spec["name"] = name;
    plan.runs.push_back({name, std::move(spec), key});  // not copied: a spec is most of a run's memory
  }
  return plan;
}

SweepPlan load_sweep_plan(const std::string& path, const PlanOptions& options) {
  std::vector<std::string> errors;
  SweepDefinition definition = read_sweep_file(path, errors);
  SweepPlan plan;
  if (errors.empty()) plan = expand_sweep(definition, errors, options);
  if (!errors.empty()) {
    constexpr size_t kListed = 50;  // a bad run name in a large grid is one problem per run
    std::string message = path + ": " + std::to_string(errors.size()) + " problem(s); nothing was run:";
    for (size_t i = 0; i < errors.size() && i < kListed; ++i) message += "\n  " + errors[i];
    if (errors.size() > kListed) message += "\n  ... and " + std::to_string(errors.size() - kListed) + " more";
    throw Error(ErrorCode::kInvalidInput, message);
  }
  if (plan.runs.empty()) throw Error(ErrorCode::kInvalidInput, path + ": the sweep expands to no runs");
  return plan;
}

}  // namespace matquant::sweep
