#pragma once
// Selecting one table cell's value from the runs: filter runs by params, read the measure at a
// precision, and average only over replicates of one configuration (seeds). A cell whose runs
// differ in anything but the seed is ambiguous, never a mean (docs/results.md "One configuration
// per cell").
#include "report/run_records.h"
#include "report/table_spec.h"

#include <optional>
#include <string>
#include <vector>

namespace matquant::report {

// kTooFewDocuments: an accuracy measured on fewer than kMinDocuments documents per task (the
// fixture task files), shown as "n/a" with a footnote rather than as a number.
enum class CellState { kMissing, kDiverged, kValue, kTooFewDocuments, kAmbiguous };

inline constexpr int kMinDocuments = 100;

// The lm-eval metric the paper's accuracies match for a zero-shot task: acc_norm for HellaSwag,
// acc elsewhere (docs/results.md "Which accuracy each task reports"); the table specs say the
// same per measure, this serves readers without a spec (the Mix'n'Match figure).
std::string paper_accuracy_metric(const std::string& task);

// Params that never tell configurations apart: replicates differ in `seed`, and `name` and the
// list of evaluated precisions do not change what one precision measures.
bool is_replicate_param(const std::string& key);

// One matching run behind a cell.
struct CellSource {
  std::string run_name;
  std::string run_key;
  std::string job_key;        // the measuring job; runs sharing it are one measurement
  CellState state = CellState::kMissing;
  double value = 0.0;
  std::string configuration;  // the run's params without the replicate params, as "k=v;..." text
};

struct CellResult {
  CellState state = CellState::kMissing;
  double value = 0.0;  // mean over `runs` measurements (seeds), scaled by the measure
  int runs = 0;
  int documents = 0;   // kTooFewDocuments: the smallest task's document count
  std::vector<CellSource> sources;      // every matching run, in run-key order
  std::vector<std::string> differences;  // kAmbiguous: "lambdas: [0.1,0.1,1] | [0.2,0.2,1]", one per param
};

// True when a run's param text equals `wanted` as text, as JSON ("1" equals "1.0", "[0.1,1]"
// equals "[0.1, 1.0]") or with spaces ignored ("[8, 4, 8->2]" equals "[8,4,8->2]").
bool param_matches(const std::string& param, const std::string& wanted);

// The run's value for a param, falling back to docs/contracts.md's default for specs that
// leave a field out (base qat, variant matquant, scope ffn, ...).
std::optional<std::string> run_param(const RunRecord& run, const std::string& key);

bool run_matches(const RunRecord& run, const Filters& filters);

// The measure's value for one run at `precision`; kDiverged when the value is not finite or the
// run's training (or this precision's evaluation) diverged. `job_key`, when given, receives the
// key of the job whose metrics were read.
CellResult measure_run(const RunRecord& run, const std::string& precision, const MeasureSpec& measure,
                       std::string* job_key = nullptr);

// The params that tell the runs' configurations apart, "key: a | b" each; empty when every run is
// a replicate (seed) of one configuration.
std::vector<std::string> configuration_differences(const std::vector<const RunRecord*>& runs);

CellResult select_cell(const std::vector<RunRecord>& runs, const Filters& filters, const std::string& precision,
                       const MeasureSpec& measure);

}  // namespace matquant::report
