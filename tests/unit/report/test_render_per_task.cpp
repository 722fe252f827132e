// Per-task tables (one measure per zero-shot task, the appendix's Tables 9-23) and column groups
// that compare variants (Table 8), rendered from small databases built through the store API.
#include "common/error.h"
#include "report/paper_numbers.h"
#include "report/render.h"
#include "report/report_table.h"
#include "report/run_records.h"
#include "report/table_spec.h"
#include "report_test_util.h"

#include <gtest/gtest.h>

namespace matquant::report {
namespace {

using nlohmann::json;

const std::string kTablesDir = std::string(MATQUANT_SOURCE_DIR) + "/experiments/tables";

json spec_for(const std::string& variant, const std::string& base) {
  json spec = {{"model", "ours/tiny"}, {"base", base}, {"variant", variant}, {"scope", "ffn"}};
  if (variant == "matquant") spec["lambdas"] = {0.1, 0.1, 1};  // the paper's Gemma weighting, which Table 9 reads
  return spec;
}

// The committed Table 9 (OmniQuant, Gemma-2 2B) with our tiny model in the Gemma-2 2B column.
TEST(ReportPerTask, CommittedTableNineShowsEveryTaskBesideThePaper) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  // int8 Baseline: tasks 50, 70, 80, 60, 75, 65 -> Average 400 / 6 = 66.67 (HellaSwag is read as acc_norm).
  builder.eval("base8", spec_for("baseline", "omniquant"), "int8",
               {{"arc_challenge/acc", 0.50}, {"arc_easy/acc", 0.70}, {"boolq/acc", 0.80}, {"hellaswag/acc_norm", 0.60},
                {"piqa/acc", 0.75}, {"winogrande/acc", 0.65}});
  // int2 MatQuant without Winogrande: its task cells are there, the Average is not.
  builder.eval("mq", spec_for("matquant", "omniquant"), "int2",
               {{"arc_challenge/acc", 0.25}, {"arc_easy/acc", 0.50}, {"boolq/acc", 0.625}, {"hellaswag/acc_norm", 0.375},
                {"piqa/acc", 0.5}});
  // QAT must not leak into this OmniQuant table.
  builder.eval("qat8", spec_for("baseline", "qat"), "int8", {{"arc_challenge/acc", 0.99}});

  const TableSpec spec = load_table_spec(find_table_spec(kTablesDir, "9"));
  const PaperNumbers paper = PaperNumbers::load(spec.paper_csv);
  ReportOptions options;
  options.models = {{"gemma-2-2b", "ours/tiny"}};
  const ReportTable table = build_report(spec, load_run_records(builder.db()), &paper, options);
  ASSERT_EQ(table.measures.size(), 7u);
  ASSERT_EQ(table.rows.size(), 15u);

  const std::string md = render_markdown(table);
  EXPECT_NE(md.find("| Data type | Method      |"), std::string::npos) << md;
  for (const std::string header : {"ours: tiny \\| paper: Gemma-2 2B, ARC-c", "ours: tiny \\| paper: Gemma-2 2B, Winogrande",
                                   "ours: tiny \\| paper: Gemma-2 2B, Average"}) {
    EXPECT_NE(md.find(header), std::string::npos) << header << "\n" << md;
  }
  // Paper's int8 Baseline row (Table 9): 50, 71.46, 76.36, 69.76, 78.24, 63.69, Average 68.25.
  const size_t int8_row = md.find("| int8      | Baseline");
  ASSERT_NE(int8_row, std::string::npos) << md;
  const std::string line = md.substr(int8_row, md.find('\n', int8_row) - int8_row);
  size_t at = 0;
  for (const std::string cell : {"50.00 / 50 (+0.00)", "70.00 / 71.46 (-1.46)", "80.00 / 76.36 (+3.64)",
                                 "60.00 / 69.76 (-9.76)", "75.00 / 78.24 (-3.24)", "65.00 / 63.69 (+1.31)",
                                 "66.67 / 68.25 (-1.58)"}) {
    const size_t found = line.find(cell, at);
    EXPECT_NE(found, std::string::npos) << cell << " after column " << at << " in\n" << line;
    if (found != std::string::npos) at = found + cell.size();
  }
  // int2 MatQuant (row 8): ARC-c 25.00 beside 29.95; Winogrande and Average not run.
  EXPECT_EQ(table.cell(8, 0, 0).ours.state, CellState::kValue);
  EXPECT_DOUBLE_EQ(table.cell(8, 0, 0).ours.value, 25.0);
  EXPECT_EQ(table.cell(8, 0, 0).paper->text, "29.95");
  EXPECT_EQ(table.cell(8, 0, 5).ours.state, CellState::kMissing);
  EXPECT_EQ(table.cell(8, 0, 6).ours.state, CellState::kMissing);
  EXPECT_EQ(table.cell(8, 0, 6).paper->text, "52.37");
}

constexpr const char* kVariantColumns = R"yaml(
table: "v"
title: Variant columns
source: test
base: omniquant
models:
  big: [ours/tiny]
row_header: [Bits, Config.]
columns:
  - {model: big, label: MatQuant, variant: matquant}
  - {model: big, label: E.P., variant: ep, precision_prefix: "ep-"}
measures:
  - {key: log_pplx, label: log pplx., metric: log_pplx, task: validation, digits: 3}
rows:
  - {section: "2", label: plain, precision: int2, paper_variant: plain, where: {distillation: ""}}
  - {label: distilled, precision: int2, paper_variant: distilled, where: {distillation: "[8, 4, 8->2]"}}
)yaml";

TEST(ReportPerTask, ColumnVariantAndPrecisionPrefix) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  json matquant = spec_for("matquant", "omniquant");
  json ep = spec_for("ep", "omniquant");
  json ep_distilled = ep;
  ep_distilled["distillation"] = "[8, 4, 8->2]";
  builder.eval("mq", matquant, "int2", {{"validation/log_pplx", 3.0}});
  builder.eval("ep", ep, "ep-int2", {{"validation/log_pplx", 2.5}});
  builder.eval("ep", ep, "int2", {{"validation/log_pplx", 9.0}});  // Eq. 6 slice of the ep run: not E.P.
  builder.eval("ep-d", ep_distilled, "ep-int2", {{"validation/log_pplx", 2.25}});
  const TableSpec spec = parse_table_spec(kVariantColumns, "variant.yaml", ".");
  const PaperNumbers paper = PaperNumbers::parse(
      "table,model,base,variant,precision,column,value\n"
      "v,big,omniquant,plain,int2,log_pplx,3.100\n"
      "v,big,omniquant,distilled,ep-int2,log_pplx,2.000\n",
      "paper.csv");
  const ReportTable table = build_report(spec, load_run_records(builder.db()), &paper, {});
  EXPECT_DOUBLE_EQ(table.cell(0, 0, 0).ours.value, 3.0);
  EXPECT_DOUBLE_EQ(table.cell(0, 1, 0).ours.value, 2.5);
  EXPECT_EQ(table.cell(1, 0, 0).ours.state, CellState::kMissing);  // no distilled MatQuant run
  EXPECT_DOUBLE_EQ(table.cell(1, 1, 0).ours.value, 2.25);
  EXPECT_EQ(table.cell(0, 0, 0).paper->text, "3.100");
  EXPECT_FALSE(table.cell(0, 1, 0).paper.has_value());
  EXPECT_EQ(table.cell(1, 1, 0).paper->text, "2.000");
  EXPECT_TRUE(unused_paper_entries(spec, paper).empty());
}

TEST(ReportPerTask, ColumnKeysAreChecked) {
  EXPECT_THROW(parse_table_spec(R"yaml(
table: "x"
title: x
columns: [{model: m, precision_suffix: "-x"}]
measures: [{key: a, metric: acc, task: t}]
rows: [{precision: int2}]
)yaml",
                                "bad.yaml", "."),
               Error);
}

}  // namespace
}  // namespace matquant::report
