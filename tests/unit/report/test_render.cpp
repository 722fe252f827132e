// A small database built through the store API renders to exact tables: our numbers, the
// paper's beside them with the difference, '-' for diverged runs, n/a or blank for missing ones.
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

constexpr const char* kSpec = R"yaml(
table: "t"
title: Test table
source: test numbers
base: qat
models:
  big-model: [ours/tiny]
row_header: [Data type, Method]
columns:
  - {model: big-model, label: Big}
measures:
  - {key: task_avg, label: Task Avg., metric: acc, mean_of: [arc_easy, piqa], scale: 100, digits: 2}
  - {key: log_pplx, label: log pplx., metric: log_pplx, task: validation, digits: 3}
rows:
  - {section: bfloat16, precision: bf16, where: {base: "*"}}
  - {section: int4, label: Baseline, precision: int4, variant: baseline}
  - {label: MatQuant, precision: int4, variant: matquant}
  - {section: int2, label: Baseline, precision: int2, variant: baseline}
  - {label: MatQuant, precision: int2, variant: matquant}
  - {section: int3, label: MatQuant, precision: int3, variant: matquant}
)yaml";

// Paper numbers for the spec above: int4 MatQuant has none, int2 Baseline diverged in the paper,
// int3 MatQuant has a Task Avg. only.
constexpr const char* kPaper =
    "table,model,base,variant,precision,column,value\n"
    "t,big-model,qat,,bf16,task_avg,70.00\n"
    "t,big-model,qat,,bf16,log_pplx,2.500\n"
    "t,big-model,qat,baseline,int4,task_avg,65.00\n"
    "t,big-model,qat,baseline,int4,log_pplx,2.6\n"
    "t,big-model,qat,baseline,int2,task_avg,-\n"
    "t,big-model,qat,baseline,int2,log_pplx,-\n"
    "t,big-model,qat,matquant,int2,task_avg,50.00\n"
    "t,big-model,qat,matquant,int2,log_pplx,3.000\n"
    "t,big-model,qat,matquant,int3,task_avg,60.00\n";

json spec_for(const std::string& variant, const std::string& base = "qat", int seed = 0) {
  return {{"model", "ours/tiny"}, {"base", base}, {"variant", variant}, {"seed", seed}};
}

class ReportRender : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::DatabaseBuilder builder(dir_);
    // bf16 71.00 / 2.400; int4 baseline 65.00 / 2.650.
    builder.eval("base4", spec_for("baseline"), "bf16", {{"arc_easy/acc", 0.72}, {"piqa/acc", 0.70}, {"validation/log_pplx", 2.4}});
    builder.eval("base4", spec_for("baseline"), "int4", {{"arc_easy/acc", 0.6}, {"piqa/acc", 0.7}, {"validation/log_pplx", 2.65}});
    builder.diverged_training("base2", spec_for("baseline"));
    // MatQuant, two seeds at int2: (53 + 51) / 2 = 52.00 and (3.1 + 3.3) / 2 = 3.200.
    builder.eval("mq", spec_for("matquant"), "int4", {{"arc_easy/acc", 0.62}, {"piqa/acc", 0.70}, {"validation/log_pplx", 2.7}});
    builder.eval("mq", spec_for("matquant"), "int2", {{"arc_easy/acc", 0.50}, {"piqa/acc", 0.56}, {"validation/log_pplx", 3.1}});
    builder.eval("mq-seed1", spec_for("matquant", "qat", 1), "int2",
                 {{"arc_easy/acc", 0.48}, {"piqa/acc", 0.54}, {"validation/log_pplx", 3.3}});
    // Another base: must not leak into this QAT table.
    builder.eval("omni", spec_for("matquant", "omniquant"), "int4", {{"arc_easy/acc", 0.1}, {"piqa/acc", 0.1}, {"validation/log_pplx", 9.0}});
    runs_ = load_run_records(builder.db());
    spec_ = parse_table_spec(kSpec, "test.yaml", ".");
    paper_ = PaperNumbers::parse(kPaper, "paper.csv");
  }

  testing::TempDir dir_;
  std::vector<RunRecord> runs_;
  TableSpec spec_;
  PaperNumbers paper_;
};

TEST_F(ReportRender, MarkdownSideBySideWithThePaper) {
  const ReportTable table = build_report(spec_, runs_, &paper_, {});
  EXPECT_EQ(render_markdown(table),
            "## Table t: Test table\n"
            "\n"
            "Paper numbers: test numbers.\n"
            "Cells: ours / paper (ours - paper); '-' diverged, 'n/a' not run.\n"
            "\n"
            "| Data type | Method   | ours: tiny \\| paper: Big, Task Avg. | ours: tiny \\| paper: Big, log pplx. |\n"
            "|:----------|:---------|------------------------------------:|------------------------------------:|\n"
            "| bfloat16  |          |               71.00 / 70.00 (+1.00) |              2.400 / 2.500 (-0.100) |\n"
            "| int4      | Baseline |               65.00 / 65.00 (+0.00) |                2.650 / 2.6 (+0.050) |\n"
            "|           | MatQuant |                               66.00 |                               2.700 |\n"
            "| int2      | Baseline |                               - / - |                               - / - |\n"
            "|           | MatQuant |               52.00 / 50.00 (+2.00) |              3.200 / 3.000 (+0.200) |\n"
            "| int3      | MatQuant |                         n/a / 60.00 |                                     |\n");
}

TEST_F(ReportRender, MarkdownWithoutPaperNumbers) {
  ReportOptions options;
  options.show_paper = false;
  const ReportTable table = build_report(spec_, runs_, &paper_, options);
  EXPECT_EQ(render_markdown(table),
            "## Table t: Test table\n"
            "\n"
            "| Data type | Method   | ours: tiny, Task Avg. | ours: tiny, log pplx. |\n"
            "|:----------|:---------|----------------------:|----------------------:|\n"
            "| bfloat16  |          |                 71.00 |                 2.400 |\n"
            "| int4      | Baseline |                 65.00 |                 2.650 |\n"
            "|           | MatQuant |                 66.00 |                 2.700 |\n"
            "| int2      | Baseline |                     - |                     - |\n"
            "|           | MatQuant |                 52.00 |                 3.200 |\n"
            "| int3      | MatQuant |                       |                       |\n");
}

TEST_F(ReportRender, DivergedRunPrintsADash) {
  const ReportTable table = build_report(spec_, runs_, nullptr, {});
  const ReportCell& cell = table.cell(3, 0, 0);  // int2 Baseline, Task Avg.
  EXPECT_EQ(cell.ours.state, CellState::kDiverged);
  EXPECT_FALSE(cell.paper.has_value());
  EXPECT_FALSE(table.has_paper);
}

TEST_F(ReportRender, CsvIsLongFormatAtFullPrecision) {
  const ReportTable table = build_report(spec_, runs_, &paper_, {});
  const std::string csv = render_csv(table);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "table,section,row,precision,model,column,ours,paper,diff,runs,state");
  EXPECT_NE(csv.find("\nt,int2,Baseline,int2,big-model,task_avg,-,-,,0,diverged\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nt,int3,MatQuant,int3,big-model,task_avg,,60.00,,0,missing\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nt,int4,MatQuant,int4,big-model,log_pplx,2.7,,,1,value\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nt,int2,MatQuant,int2,big-model,task_avg,52,50.00,2,2,value\n"), std::string::npos) << csv;
}

TEST_F(ReportRender, LatexUsesBooktabs) {
  const ReportTable table = build_report(spec_, runs_, &paper_, {});
  const std::string latex = render_latex(table);
  EXPECT_NE(latex.find("\\begin{tabular}{llrr}\n\\toprule\n"), std::string::npos) << latex;
  EXPECT_NE(latex.find(" &  & \\multicolumn{2}{c}{ours: tiny \\textbar{} paper: Big} \\\\\n\\cmidrule(lr){3-4}\n"),
            std::string::npos)
      << latex;
  EXPECT_NE(latex.find("Data type & Method & Task Avg. & log pplx. \\\\\n\\midrule\n"), std::string::npos) << latex;
  EXPECT_NE(latex.find("\\midrule\nint2 & Baseline & - / - & - / - \\\\\n"), std::string::npos) << latex;
  EXPECT_NE(latex.find(" & MatQuant & 52.00 / 50.00 {\\scriptsize(+2.00)} & 3.200 / 3.000 {\\scriptsize(+0.200)} \\\\\n"),
            std::string::npos)
      << latex;
  EXPECT_NE(latex.find("\\bottomrule\n\\end{tabular}\n\\end{table}\n"), std::string::npos) << latex;
}

TEST_F(ReportRender, ModelOptionMapsOurModelOntoAColumn) {
  // The spec maps big-model to ours/tiny; a --model naming another of our models replaces it.
  ReportOptions options;
  options.models = {{"big-model", "ours/other"}};
  const ReportTable table = build_report(spec_, runs_, &paper_, options);
  EXPECT_EQ(table.cell(1, 0, 0).ours.state, CellState::kMissing);
  EXPECT_TRUE(table.cell(1, 0, 0).paper.has_value());
}

TEST_F(ReportRender, ModelOptionAddsAColumnWithoutPaperNumbers) {
  ReportOptions options;
  options.models = {{"tiny", "ours/tiny"}};
  options.only_listed_models = true;
  const ReportTable table = build_report(spec_, runs_, &paper_, options);
  ASSERT_EQ(table.groups.size(), 1u);
  EXPECT_FALSE(table.has_paper);
  EXPECT_EQ(render_markdown(table),
            "## Table t: Test table\n"
            "\n"
            "| Data type | Method   | ours: tiny, Task Avg. | ours: tiny, log pplx. |\n"
            "|:----------|:---------|----------------------:|----------------------:|\n"
            "| bfloat16  |          |                 71.00 |                 2.400 |\n"
            "| int4      | Baseline |                 65.00 |                 2.650 |\n"
            "|           | MatQuant |                 66.00 |                 2.700 |\n"
            "| int2      | Baseline |                     - |                     - |\n"
            "|           | MatQuant |                 52.00 |                 3.200 |\n"
            "| int3      | MatQuant |                       |                       |\n");
}

TEST(ReportAmbiguity, CellsMatchingTwoConfigurationsAreNamedNotAveraged) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  json low = spec_for("matquant");
  low["lambdas"] = {0.1, 0.1, 1};
  json high = spec_for("matquant");
  high["lambdas"] = {0.2, 0.2, 1};
  builder.eval("mq-low", low, "int4", {{"arc_easy/acc", 0.6}, {"piqa/acc", 0.6}, {"validation/log_pplx", 2.0}});
  builder.eval("mq-high", high, "int4", {{"arc_easy/acc", 0.4}, {"piqa/acc", 0.4}, {"validation/log_pplx", 4.0}});
  const auto runs = load_run_records(builder.db());
  const TableSpec spec = parse_table_spec(kSpec, "test.yaml", ".");
  const ReportTable table = build_report(spec, runs, nullptr, {});
  const auto ambiguous = ambiguous_cells(table);
  ASSERT_EQ(ambiguous.size(), 1u);  // int4 MatQuant (both measures of one cell: one line)
  EXPECT_NE(ambiguous[0].find("row 'int4 MatQuant'"), std::string::npos) << ambiguous[0];
  EXPECT_NE(ambiguous[0].find("lambdas: [0.1,0.1,1] | [0.2,0.2,1]"), std::string::npos) << ambiguous[0];
  EXPECT_NE(render_markdown(table).find("|           | MatQuant |                     ? |                     ? |"),
            std::string::npos);
  const std::string explanation = render_explanation(table);
  EXPECT_NE(explanation.find("**int4 · MatQuant · int4**, ours: tiny: AMBIGUOUS, 2 configurations, differing in "
                             "lambdas: [0.1,0.1,1] | [0.2,0.2,1]. "),
            std::string::npos)
      << explanation;
  // --where picks one: the (0.2, 0.2, 1) run alone, 40.00 / 4.000.
  ReportOptions options;
  options.where["lambdas"] = {"[0.2, 0.2, 1]"};
  const ReportTable narrowed = build_report(spec, runs, nullptr, options);
  EXPECT_TRUE(ambiguous_cells(narrowed).empty());
  EXPECT_DOUBLE_EQ(narrowed.cell(2, 0, 1).ours.value, 4.0);
  EXPECT_NE(render_explanation(narrowed).find("1 configuration, 1 run(s), 1 measurement(s). (unnamed) (run mq-high, job mq-high/int4)"),
            std::string::npos)
      << render_explanation(narrowed);
}

TEST(ReportFixtureTasks, AccuracyOverFourDocumentsIsNotAvailable) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  builder.eval("base4", spec_for("baseline"), "int4",
               {{"arc_easy/acc", 0.75}, {"arc_easy/documents", 4}, {"piqa/acc", 0.5}, {"piqa/documents", 4},
                {"validation/log_pplx", 2.65}});
  const TableSpec spec = parse_table_spec(kSpec, "test.yaml", ".");
  const ReportTable table = build_report(spec, load_run_records(builder.db()), nullptr, {});
  EXPECT_EQ(table.cell(1, 0, 0).ours.state, CellState::kTooFewDocuments);
  EXPECT_EQ(table.cell(1, 0, 1).ours.state, CellState::kValue);  // perplexity is not a task accuracy
  const std::string markdown = render_markdown(table);
  EXPECT_NE(markdown.find("| int4      | Baseline |                  n/a* |                 2.650 |"), std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("\nn/a*: accuracy over fewer than 100 documents per task (as few as 4)"), std::string::npos)
      << markdown;
}

TEST(ReportFormat, ParsesNames) {
  EXPECT_EQ(parse_report_format("md"), ReportFormat::kMarkdown);
  EXPECT_EQ(parse_report_format("latex"), ReportFormat::kLatex);
  EXPECT_EQ(parse_report_format("csv"), ReportFormat::kCsv);
  EXPECT_THROW(parse_report_format("html"), Error);
}

}  // namespace
}  // namespace matquant::report
