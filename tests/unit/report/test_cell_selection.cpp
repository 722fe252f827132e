// Selecting a cell: param filters (with contract defaults and JSON-aware comparison), means over
// tasks and seeds, and the diverged/missing distinction.
#include "report/cell_selection.h"

#include <gtest/gtest.h>

namespace matquant::report {
namespace {

MeasureSpec log_pplx() {
  MeasureSpec m;
  m.key = "log_pplx";
  m.metric = "log_pplx";
  m.tasks = {"validation", "c4"};
  return m;
}

MeasureSpec task_avg() {
  MeasureSpec m;
  m.key = "task_avg";
  m.metric = "acc";
  m.metric_by_task = {{"hellaswag", "acc_norm"}};
  m.tasks = {"arc_easy", "hellaswag"};
  m.mean_of_tasks = true;
  m.scale = 100;
  return m;
}

RunRecord run(const std::string& key, std::map<std::string, std::optional<std::string>> params,
              std::vector<RunMetric> metrics, std::vector<RunJob> jobs = {}) {
  return {key, key, "done", std::move(params), std::move(metrics), std::move(jobs)};
}

TEST(ReportCellSelection, ParamMatching) {
  EXPECT_TRUE(param_matches("qat", "qat"));
  EXPECT_FALSE(param_matches("qat", "omniquant"));
  EXPECT_TRUE(param_matches("[0.1,0.1,1.0]", "[0.1, 0.1, 1]"));
  EXPECT_TRUE(param_matches("1e-05", "0.00001"));
  EXPECT_TRUE(param_matches("[8, 4, 2, 8->2]", "[8,4,2,8->2]"));
  EXPECT_FALSE(param_matches("[8, 4, 8->2]", "[8, 4, 2, 8->2]"));
}

TEST(ReportCellSelection, MissingParamsFallBackToContractDefaults) {
  const RunRecord r = run("a", {{"model", "m"}}, {});
  EXPECT_TRUE(run_matches(r, {{"base", {"qat"}}, {"scope", {"ffn"}}, {"variant", {"matquant"}}}));
  EXPECT_FALSE(run_matches(r, {{"base", {"omniquant"}}}));
  EXPECT_FALSE(run_matches(r, {{"not_a_field", {"x"}}}));
}

TEST(ReportCellSelection, FirstTaskWithAValueWins) {
  const RunRecord r = run("a", {}, {{"int4", "c4", "log_pplx", 2.5}, {"int2", "validation", "log_pplx", 3.0}});
  const CellResult c4 = measure_run(r, "int4", log_pplx());
  EXPECT_EQ(c4.state, CellState::kValue);
  EXPECT_DOUBLE_EQ(c4.value, 2.5);
  EXPECT_DOUBLE_EQ(measure_run(r, "int2", log_pplx()).value, 3.0);
  EXPECT_EQ(measure_run(r, "int8", log_pplx()).state, CellState::kMissing);
}

TEST(ReportCellSelection, TaskMeanNeedsEveryTask) {
  const RunRecord full = run("a", {}, {{"int4", "arc_easy", "acc", 0.5}, {"int4", "hellaswag", "acc_norm", 0.7}});
  EXPECT_DOUBLE_EQ(measure_run(full, "int4", task_avg()).value, 60.0);
  const RunRecord partial = run("b", {}, {{"int4", "arc_easy", "acc", 0.5}, {"int4", "hellaswag", "acc", 0.7}});
  EXPECT_EQ(measure_run(partial, "int4", task_avg()).state, CellState::kMissing);  // hellaswag wants acc_norm
}

TEST(ReportCellSelection, DivergedTrainingOrNonFiniteValue) {
  const RunRecord trained_nan = run("a", {}, {{"int2", "validation", "log_pplx", std::nullopt}});
  EXPECT_EQ(measure_run(trained_nan, "int2", log_pplx()).state, CellState::kDiverged);
  const RunRecord diverged = run("b", {}, {}, {{"train", "", "diverged"}});
  EXPECT_EQ(measure_run(diverged, "int4", log_pplx()).state, CellState::kDiverged);
  const RunRecord eval_diverged = run("c", {}, {}, {{"train", "", "done"}, {"eval", "int2", "diverged"}});
  EXPECT_EQ(measure_run(eval_diverged, "int2", log_pplx()).state, CellState::kDiverged);
  EXPECT_EQ(measure_run(eval_diverged, "int4", log_pplx()).state, CellState::kMissing);
}

TEST(ReportCellSelection, MeanOverMatchingRunsSkipsOthers) {
  const std::vector<RunRecord> runs = {
      run("s0", {{"seed", "0"}, {"model", "m"}}, {{"int4", "validation", "log_pplx", 2.0}}),
      run("s1", {{"seed", "1"}, {"model", "m"}}, {{"int4", "validation", "log_pplx", 3.0}}),
      run("other", {{"seed", "0"}, {"model", "n"}}, {{"int4", "validation", "log_pplx", 100.0}}),
      run("s2", {{"seed", "2"}, {"model", "m"}}, {}, {{"train", "", "diverged"}})};
  const CellResult cell = select_cell(runs, {{"model", {"m"}}}, "int4", log_pplx());
  EXPECT_EQ(cell.state, CellState::kValue);
  EXPECT_DOUBLE_EQ(cell.value, 2.5);
  EXPECT_EQ(cell.runs, 2);
  EXPECT_EQ(select_cell(runs, {{"model", {"m"}}, {"seed", {"2"}}}, "int4", log_pplx()).state, CellState::kDiverged);
  EXPECT_EQ(select_cell(runs, {{"model", {"x"}}}, "int4", log_pplx()).state, CellState::kMissing);
}

}  // namespace
}  // namespace matquant::report
