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

// Appends every problem to `errors` (deduplicated: a bad base value is reported once, not per run).
SweepPlan expand_sweep(const SweepDefinition& definition, std::vector<std::string>& errors);

// Reads, parses and expands; throws kInvalidInput listing every problem when anything is wrong,
// so nothing runs until the whole file validates.
SweepPlan load_sweep_plan(const std::string& path);

}  // namespace matquant::sweep
