#pragma once
// Selecting one table cell's value from the runs: filter runs by params, read the measure at a
// precision, average over matching runs (seeds are replicates).
#include "report/run_records.h"
#include "report/table_spec.h"

#include <optional>
#include <string>
#include <vector>

namespace matquant::report {

enum class CellState { kMissing, kDiverged, kValue };

struct CellResult {
  CellState state = CellState::kMissing;
  double value = 0.0;  // mean over `runs` runs, scaled by the measure
  int runs = 0;
};

// True when a run's param text equals `wanted` as text, as JSON ("1" equals "1.0", "[0.1,1]"
// equals "[0.1, 1.0]") or with spaces ignored ("[8, 4, 8->2]" equals "[8,4,8->2]").
bool param_matches(const std::string& param, const std::string& wanted);

// The run's value for a param, falling back to docs/contracts.md's default for specs that
// leave a field out (base qat, variant matquant, scope ffn, ...).
std::optional<std::string> run_param(const RunRecord& run, const std::string& key);

bool run_matches(const RunRecord& run, const Filters& filters);

// The measure's value for one run at `precision`; kDiverged when the value is not finite or the
// run's training (or this precision's evaluation) diverged.
CellResult measure_run(const RunRecord& run, const std::string& precision, const MeasureSpec& measure);

CellResult select_cell(const std::vector<RunRecord>& runs, const Filters& filters, const std::string& precision,
                       const MeasureSpec& measure);

}  // namespace matquant::report
