// Every committed table (experiments/tables/*.yaml) reads exactly one configuration per cell
// from a database that holds, under one model, the whole grid a researcher runs: per-precision
// baselines, Sliced int8, the λ sweep, co-distillation, S.P., E.P. (plain and co-distilled),
// FFN+Attention, under both bases, with a bfloat16 evaluation shared by every run.
// Each run's log pplx. encodes which run it is, so a cell's value names the run it came from.
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

constexpr const char* kModel = "ours/one-model";

struct GridRun {
  std::string name;
  json spec;
  std::vector<std::string> precisions;
};

std::vector<std::string> all_tasks() {
  return {"arc_challenge", "arc_easy", "boolq", "hellaswag", "piqa", "winogrande"};
}

json spec_of(const std::string& base, const std::string& variant, json bits, json lambdas, const std::string& scope = "ffn",
             const std::string& distillation = "") {
  return {{"model", kModel}, {"base", base},         {"variant", variant},          {"bits", std::move(bits)},
          {"lambdas", std::move(lambdas)}, {"scope", scope}, {"distillation", distillation}, {"seed", 0}};
}

std::vector<GridRun> paper_grid() {
  const std::vector<std::string> sliced = {"int2", "int3", "int4", "int6", "int8"};
  const std::vector<std::string> ep = {"ep-int2", "ep-int3", "ep-int4", "ep-int6", "ep-int8"};
  std::vector<GridRun> grid;
  for (const std::string base : {"omniquant", "qat"}) {
    for (const std::string scope : {"ffn", "ffn+attn"}) {
      const std::string tag = base + "/" + scope + "/";
      for (int b : {8, 4, 2, 6, 3}) {
        grid.push_back({tag + "baseline-int" + std::to_string(b), spec_of(base, "baseline", {b}, {1}, scope),
                        {"int" + std::to_string(b)}});
      }
      grid.push_back({tag + "sliced", spec_of(base, "sliced", {8}, {1}, scope), {"int4", "int2", "int6", "int3"}});
      // The first draft's Eq. 8 Sliced int8 and S.P. MatQuant (Tables 18-23): `ep` with one width.
      grid.push_back({tag + "ep-sliced", spec_of(base, "ep", {8}, {1}, scope), ep});
      grid.push_back({tag + "ep-sp", spec_of(base, "ep", {2}, {1}, scope), ep});
      for (const std::string l : {"0.1", "0.2", "0.3", "0.4"}) {
        grid.push_back({tag + "matquant-" + l, spec_of(base, "matquant", {8, 4, 2}, json::parse("[" + l + "," + l + ",1]"), scope), sliced});
      }
      grid.push_back({tag + "matquant-1", spec_of(base, "matquant", {8, 4, 2}, {1, 1, 1}, scope), sliced});
      for (const std::string d : {"[8, 4, 8->2]", "[8, 4, 2, 8->2]", "[8, 4, 2, 8->4;2]"}) {
        grid.push_back({tag + "codistill" + d, spec_of(base, "matquant", {8, 4, 2}, {0.1, 0.1, 1}, scope, d), sliced});
        grid.push_back({tag + "ep-codistill" + d, spec_of(base, "ep", {8, 4, 2}, {1, 1, 1}, scope, d), ep});
      }
      grid.push_back({tag + "sp", spec_of(base, "sp", {2}, {1}, scope), sliced});
      grid.push_back({tag + "ep", spec_of(base, "ep", {8, 4, 2}, {1, 1, 1}, scope), ep});
      grid.push_back({tag + "ep-0.1", spec_of(base, "ep", {8, 4, 2}, {0.1, 0.1, 1}, scope), ep});
    }
  }
  return grid;
}

class TableCellIntent : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::DatabaseBuilder builder(dir_);
    grid_ = paper_grid();
    for (size_t i = 0; i < grid_.size(); ++i) {
      const GridRun& run = grid_[i];
      for (size_t p = 0; p < run.precisions.size(); ++p) {
        builder.eval(run.name, run.spec, run.precisions[p], metrics(double(i) + 0.01 * double(p)));
      }
      // The one bfloat16 evaluation of the model, shared by every run (as the sweep shares it).
      if (i == 0) builder.eval(run.name, run.spec, "bf16", metrics(-1.0), "bf16-shared");
      builder.link(run.name, "bf16-shared");
    }
    runs_ = load_run_records(builder.db());
  }

  static testing::Metrics metrics(double log_pplx) {
    testing::Metrics m = {{"validation/log_pplx", log_pplx}, {"weights/effective_bits", 2.05}};
    for (const std::string& task : all_tasks()) {
      m[task + "/acc"] = 0.5;
      m[task + "/acc_norm"] = 0.6;
      m[task + "/documents"] = 1000;
    }
    m["arc_challenge/acc"] = log_pplx / 10000;  // the per-task tables (no log pplx.) read it from ARC-c
    return m;
  }

  // The run a cell came from: its log pplx. (or ARC-c accuracy x 100 in the per-task tables)
  // has the run's grid index as integer part.
  std::string run_behind(const ReportTable& table, const std::string& section, const std::string& label, size_t group) {
    size_t measure = table.measures.size();
    double scale = 1.0;
    for (size_t m = 0; m < table.measures.size(); ++m) {
      if (table.measures[m].key == "log_pplx") measure = m;
      if (table.measures[m].key == "arc_c" && measure == table.measures.size()) {
        measure = m;
        scale = 100.0;  // 100 x (index / 10000) as a percentage
      }
    }
    if (measure == table.measures.size()) return "no identifying measure";
    for (size_t r = 0; r < table.rows.size(); ++r) {
      if (table.rows[r].section != section || table.rows[r].label != label) continue;
      const CellResult& ours = table.cell(r, group, measure).ours;
      if (ours.state != CellState::kValue) return "state " + std::to_string(int(ours.state));
      const double index = ours.value * scale + 1e-9;
      return index < 0 ? "bf16" : grid_[size_t(index)].name;
    }
    return "no row " + section + " " + label;
  }

  ReportTable report(const std::string& id) {
    const TableSpec spec = load_table_spec(find_table_spec(std::string(MATQUANT_SOURCE_DIR) + "/experiments/tables", id));
    ReportOptions options;
    for (const ColumnSpec& column : spec.columns) options.models.push_back({column.model, kModel});
    return build_report(spec, runs_, nullptr, options);
  }

  testing::TempDir dir_;
  std::vector<GridRun> grid_;
  std::vector<RunRecord> runs_;
};

TEST_F(TableCellIntent, EveryCommittedTableSelectsOneConfigurationPerCell) {
  for (const std::string& path : list_table_specs(std::string(MATQUANT_SOURCE_DIR) + "/experiments/tables")) {
    const std::string id = load_table_spec(path).id;
    const ReportTable table = report(id);
    for (const std::string& line : ambiguous_cells(table)) ADD_FAILURE() << line;
  }
}

TEST_F(TableCellIntent, MainTablesReadThePlainMatQuantRunOfEachModel) {
  const ReportTable t1 = report("1");  // OmniQuant; columns Gemma-2 2B, 9B, Mistral 7B
  EXPECT_EQ(run_behind(t1, "int2", "MatQuant", 0), "omniquant/ffn/matquant-0.1");
  EXPECT_EQ(run_behind(t1, "int2", "MatQuant", 2), "omniquant/ffn/matquant-0.4");  // the paper's Mistral numbers
  EXPECT_EQ(run_behind(t1, "int2", "Baseline", 1), "omniquant/ffn/baseline-int2");
  EXPECT_EQ(run_behind(t1, "int4", "Sliced int8", 1), "omniquant/ffn/sliced");
  EXPECT_EQ(run_behind(t1, "bfloat16", "", 0), "bf16");
  const ReportTable t2 = report("2");  // QAT
  EXPECT_EQ(run_behind(t2, "int3", "MatQuant", 1), "qat/ffn/matquant-0.1");
  EXPECT_EQ(run_behind(t2, "int6", "Baseline", 0), "qat/ffn/baseline-int6");
}

TEST_F(TableCellIntent, AblationTablesReadTheirOwnRuns) {
  const ReportTable t4 = report("4");  // co-distillation: OmniQuant and QAT columns of one model
  EXPECT_EQ(run_behind(t4, "int2", "[8, 4, 2]", 0), "omniquant/ffn/matquant-0.1");
  EXPECT_EQ(run_behind(t4, "int2", "[8, 4, 2]", 1), "qat/ffn/matquant-0.1");
  EXPECT_EQ(run_behind(t4, "int2", "[8, 4, 8->2]", 0), "omniquant/ffn/codistill[8, 4, 8->2]");
  EXPECT_EQ(run_behind(t4, "int2", "[8, 4, 8->2]", 1), "qat/ffn/codistill[8, 4, 8->2]");
  const ReportTable t6 = report("6");  // QAT, FFN + Attention
  EXPECT_EQ(run_behind(t6, "int2", "MatQuant", 0), "qat/ffn+attn/matquant-0.1");
  EXPECT_EQ(run_behind(t6, "int4", "Sliced int8", 0), "qat/ffn+attn/sliced");
  const ReportTable t7 = report("7");  // Extra-Precision MatQuant: (1, 1, 1), no co-distillation
  EXPECT_EQ(run_behind(t7, "int2", "Extra-Precision MatQuant", 0), "omniquant/ffn/ep");
  EXPECT_EQ(run_behind(t7, "int2", "MatQuant", 0), "omniquant/ffn/matquant-0.1");
  EXPECT_EQ(run_behind(t7, "int2", "MatQuant", 2), "omniquant/ffn/matquant-0.4");
  const ReportTable t18 = report("18");  // first draft, QAT FFN + Attention, all sliced rows by Eq. 8
  EXPECT_EQ(run_behind(t18, "int2", "Sliced int8", 0), "qat/ffn+attn/ep-sliced");
  EXPECT_EQ(run_behind(t18, "int2", "S.P. MatQuant", 0), "qat/ffn+attn/ep-sp");
  EXPECT_EQ(run_behind(t18, "int2", "MatQuant", 0), "qat/ffn+attn/ep");
  EXPECT_EQ(run_behind(t18, "int2", "Baseline", 0), "qat/ffn+attn/baseline-int2");
}

TEST_F(TableCellIntent, AddedModelColumnsKeepTheTablesBases) {
  // Table 4 has only a Gemma-2 9B column; a second model of ours added with --model must get an
  // OmniQuant and a QAT column, not one column mixing both bases.
  const TableSpec spec = load_table_spec(find_table_spec(std::string(MATQUANT_SOURCE_DIR) + "/experiments/tables", "4"));
  ReportOptions options;
  options.models = {{"ours", kModel}};
  options.only_listed_models = true;
  const ReportTable table = build_report(spec, runs_, nullptr, options);
  ASSERT_EQ(table.groups.size(), 2u);
  EXPECT_TRUE(ambiguous_cells(table).empty());
  EXPECT_EQ(run_behind(table, "int2", "[8, 4, 8->2]", 0), "omniquant/ffn/codistill[8, 4, 8->2]");
  EXPECT_EQ(run_behind(table, "int2", "[8, 4, 8->2]", 1), "qat/ffn/codistill[8, 4, 8->2]");
}

}  // namespace
}  // namespace matquant::report
