#pragma once
// Expanding a sweep into run specs: the cartesian product of its axes (grid axes and zip groups),
// minus `exclude` matches, plus `include` points, times `seeds`; each completed, validated and keyed.
#include "sweep/sweep_file.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace matquant::sweep {

struct PlannedSpec {
  std::string name;
  nlohmann::json spec;  // complete (defaults applied), name included
  std::string run_key;
};

struct SweepPlan {
  SweepDefinition definition;
  std::vector<PlannedSpec> runs;  // in expansion order
  size_t excluded = 0;            // dropped by `exclude`
  size_t duplicates = 0;          // expanded to a spec already planned
};

struct PlanOptions {
  // Refuse a sweep with more runs than this (--max-runs), counted from the axes before anything
  // is expanded: a 10^6-point grid is almost always a mistake, and it would take gigabytes.
  size_t max_runs = 10000;
  // Check that every model directory, data file and task directory named exists (input_checks.h).
  // `sweep plan` and `sweep run` set it; tests of expansion alone leave it off.
  bool check_inputs = false;
};

// (grid points + include points) x seeds, before `exclude` and duplicates; saturates at SIZE_MAX.
size_t planned_run_count(const SweepDefinition& definition);

// Appends every problem to `errors` (deduplicated: a bad base value is reported once, not per run).
SweepPlan expand_sweep(const SweepDefinition& definition, std::vector<std::string>& errors,
                       const PlanOptions& options = {});

// Reads, parses and expands; throws kInvalidInput listing the problems (the first 50) when anything
// is wrong, so nothing runs until the whole file validates.
SweepPlan load_sweep_plan(const std::string& path, const PlanOptions& options = {});

}  // namespace matquant::sweep
