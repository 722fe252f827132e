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

TEST(ReportCellSelection, DivergedTrainingLeavesTheBfloat16RowAlone) {
  // Issue 14: a diverged int2 baseline made the model's bfloat16 Task Avg. print '-'.
  const std::vector<RunRecord> runs = {
      run("ok", {{"model", "m"}, {"variant", "matquant"}}, {{"bf16", "validation", "log_pplx", 2.0, "bf16-job"}}),
      run("bad", {{"model", "m"}, {"variant", "baseline"}}, {}, {{"train", "", "diverged"}})};
  const CellResult bf16 = select_cell(runs, {{"model", {"m"}}}, "bf16", log_pplx());
  EXPECT_EQ(bf16.state, CellState::kValue);
  EXPECT_DOUBLE_EQ(bf16.value, 2.0);
  EXPECT_EQ(measure_run(runs[1], "int2", log_pplx()).state, CellState::kDiverged);
}

TEST(ReportCellSelection, DifferentConfigurationsAreAmbiguousNotAveraged) {
  // The λ sweep and the default run under one model: Table 4's old "[8, 4, 2]" cell averaged both.
  const std::vector<RunRecord> runs = {
      run("l1", {{"model", "m"}, {"lambdas", "[0.1,0.1,1]"}, {"seed", "0"}}, {{"int2", "validation", "log_pplx", 3.0, "j1"}}),
      run("l2", {{"model", "m"}, {"lambdas", "[0.2,0.2,1]"}, {"seed", "0"}}, {{"int2", "validation", "log_pplx", 4.0, "j2"}})};
  const CellResult cell = select_cell(runs, {{"model", {"m"}}}, "int2", log_pplx());
  EXPECT_EQ(cell.state, CellState::kAmbiguous);
  ASSERT_EQ(cell.differences.size(), 1u);
  EXPECT_EQ(cell.differences[0], "lambdas: [0.1,0.1,1] | [0.2,0.2,1]");
  EXPECT_EQ(cell.sources.size(), 2u);
  const CellResult narrowed = select_cell(runs, {{"model", {"m"}}, {"lambdas", {"[0.2, 0.2, 1.0]"}}}, "int2", log_pplx());
  EXPECT_EQ(narrowed.state, CellState::kValue);
  EXPECT_DOUBLE_EQ(narrowed.value, 4.0);
}

TEST(ReportCellSelection, SeedsOfOneConfigurationAreAveraged) {
  const std::vector<RunRecord> runs = {
      run("a", {{"model", "m"}, {"seed", "0"}, {"name", "a"}, {"eval.precisions", "[\"2\"]"}},
          {{"int2", "validation", "log_pplx", 3.0, "ja"}}),
      run("b", {{"model", "m"}, {"seed", "1"}, {"name", "b"}, {"eval.precisions", "[\"2\",\"4\"]"}},
          {{"int2", "validation", "log_pplx", 4.0, "jb"}})};
  const CellResult cell = select_cell(runs, {{"model", {"m"}}}, "int2", log_pplx());
  EXPECT_EQ(cell.state, CellState::kValue);
  EXPECT_DOUBLE_EQ(cell.value, 3.5);
  EXPECT_EQ(cell.runs, 2);
}

TEST(ReportCellSelection, OneSharedMeasurementIsOneConfiguration) {
  // The bfloat16 row: runs of different configurations point at the one shared bf16 evaluation.
  const std::vector<RunRecord> runs = {
      run("q", {{"model", "m"}, {"base", "qat"}}, {{"bf16", "validation", "log_pplx", 2.0, "bf16-job"}}),
      run("o", {{"model", "m"}, {"base", "omniquant"}}, {{"bf16", "validation", "log_pplx", 2.0, "bf16-job"}})};
  const CellResult cell = select_cell(runs, {{"model", {"m"}}}, "bf16", log_pplx());
  EXPECT_EQ(cell.state, CellState::kValue);
  EXPECT_EQ(cell.runs, 1);
  // A second bf16 evaluation with other settings is another configuration.
  std::vector<RunRecord> more = runs;
  more.push_back(run("w", {{"model", "m"}, {"eval.perplexity_samples", "64"}}, {{"bf16", "validation", "log_pplx", 2.1, "other"}}));
  EXPECT_EQ(select_cell(more, {{"model", {"m"}}}, "bf16", log_pplx()).state, CellState::kAmbiguous);
}

TEST(ReportCellSelection, AccuracyOverAFewDocumentsIsNotAValue) {
  const RunRecord fixture = run("f", {}, {{"int4", "arc_easy", "acc", 0.5, "j"}, {"int4", "hellaswag", "acc_norm", 0.75, "j"},
                                          {"int4", "arc_easy", "documents", 4.0, "j"}, {"int4", "hellaswag", "documents", 300.0, "j"}});
  const CellResult cell = measure_run(fixture, "int4", task_avg());
  EXPECT_EQ(cell.state, CellState::kTooFewDocuments);
  EXPECT_EQ(cell.documents, 4);
  const RunRecord full = run("g", {}, {{"int4", "arc_easy", "acc", 0.5, "j"}, {"int4", "hellaswag", "acc_norm", 0.75, "j"},
                                       {"int4", "arc_easy", "documents", 2376.0, "j"}});
  EXPECT_EQ(measure_run(full, "int4", task_avg()).state, CellState::kValue);
}

}  // namespace
}  // namespace matquant::report
