// The first draft's (seeds/000) Sliced int8, S.P. MatQuant and MatQuant rows are Eq. 8 slices:
// their cells read variant ep runs (bits [8], [2], [8, 4, 2]) at ep-int<r>, never the Eq. 6
// `sliced` and `sp` runs, even when those sit in the same database under the same model.
#include "report/report_table.h"
#include "report/run_records.h"
#include "report/table_spec.h"
#include "report_test_util.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace matquant::report {
namespace {

using nlohmann::json;

constexpr const char* kModel = "ours/draft-model";

struct DraftRun {
  std::string name;
  json spec;
  std::vector<std::string> precisions;
  double accuracy;  // every task's acc and acc_norm: the run a cell read is its Average
};

json spec_of(const std::string& variant, json bits, json lambdas) {
  return {{"model", kModel}, {"base", "qat"},     {"variant", variant},   {"bits", std::move(bits)},
          {"lambdas", std::move(lambdas)}, {"scope", "ffn+attn"}, {"distillation", ""}, {"seed", 0}};
}

TEST(FirstDraftCells, TableEighteenReadsEquationEightRunsOnly) {
  const std::vector<std::string> eq6 = {"int8", "int4", "int2", "int6", "int3"};
  const std::vector<std::string> eq8 = {"ep-int8", "ep-int4", "ep-int2", "ep-int6", "ep-int3"};
  const std::vector<DraftRun> runs = {
      {"sliced", spec_of("sliced", {8}, {1}), {"int4", "int2", "int6", "int3"}, 0.11},
      {"sp", spec_of("sp", {2}, {1}), eq6, 0.12},
      {"matquant", spec_of("matquant", {8, 4, 2}, {0.1, 0.1, 1}), eq6, 0.13},
      {"ep-int8-baseline", spec_of("ep", {8}, {1}), eq8, 0.21},
      {"ep-sp", spec_of("ep", {2}, {1}), eq8, 0.22},
      {"ep", spec_of("ep", {8, 4, 2}, {1, 1, 1}), eq8, 0.23},
      {"baseline-int4", spec_of("baseline", {4}, {1}), {"int4"}, 0.31},
  };
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  for (const DraftRun& run : runs) {
    testing::Metrics metrics;
    for (const std::string task : {"arc_challenge", "arc_easy", "boolq", "hellaswag", "piqa", "winogrande"}) {
      metrics[task + "/acc"] = run.accuracy;
      metrics[task + "/acc_norm"] = run.accuracy;
      metrics[task + "/documents"] = 1000;
    }
    for (const std::string& precision : run.precisions) builder.eval(run.name, run.spec, precision, metrics);
  }
  const std::vector<RunRecord> records = load_run_records(builder.db());

  const std::string tables = std::string(MATQUANT_SOURCE_DIR) + "/experiments/tables";
  const TableSpec spec = load_table_spec(find_table_spec(tables, "18"));
  ReportOptions options;
  options.models = {{"gemma-2-9b", kModel}};
  const ReportTable table = build_report(spec, records, nullptr, options);
  EXPECT_TRUE(ambiguous_cells(table).empty());
  size_t average = table.measures.size();
  for (size_t m = 0; m < table.measures.size(); ++m) {
    if (table.measures[m].key == "task_avg") average = m;
  }
  ASSERT_LT(average, table.measures.size());
  const auto read = [&](const std::string& section, const std::string& label) {
    for (size_t r = 0; r < table.rows.size(); ++r) {
      if (table.rows[r].section != section || table.rows[r].label != label) continue;
      const CellResult& ours = table.cell(r, 0, average).ours;
      return ours.state == CellState::kValue ? ours.value : -1.0;
    }
    return -2.0;
  };
  for (const std::string section : {"int4", "int2", "int6", "int3"}) {
    EXPECT_NEAR(read(section, "Sliced int8"), 21, 1e-9) << section;  // not the Eq. 6 `sliced` run (11)
    EXPECT_NEAR(read(section, "MatQuant"), 23, 1e-9) << section;
  }
  for (const std::string section : {"int2", "int3"}) {
    EXPECT_NEAR(read(section, "S.P. MatQuant"), 22, 1e-9) << section;  // not the Eq. 6 `sp` run (12)
  }
  EXPECT_NEAR(read("int4", "Baseline"), 31, 1e-9);
}

}  // namespace
}  // namespace matquant::report
