// Table specs: the fields are read as documented, and every mistake in a file is reported at
// once with its line and field.
#include "common/error.h"
#include "report/report_table.h"
#include "report/table_spec.h"
#include "report_test_util.h"

#include <gtest/gtest.h>

namespace matquant::report {
namespace {

constexpr const char* kSpec = R"yaml(table: "9"
title: Example
paper: ../paper/table9.csv
base: omniquant
where: {scope: ffn, seed: [0, 1]}
models:
  m-7b: [org/m-7b, local/m]
columns:
  - {model: m-7b, label: M 7B}
  - {model: m-7b, label: M 7B QAT, base: qat, where: {scope: "*"}}
measures:
  - {key: avg_bits, metric: effective_bits, task: weights, digits: 3}
  - {key: task_avg, metric: {arc_challenge: acc_norm}, mean_of: [arc_challenge], scale: 100}
rows:
  - {section: bfloat16, precision: bf16, where: {base: "*"}}
  - {section: int2, label: Ours, precision: int2, variant: matquant, paper_variant: "matquant(1,1,1)", where: {lambdas: "[1,1,1]"}}
)yaml";

TEST(ReportTableSpec, ReadsEveryField) {
  const TableSpec spec = parse_table_spec(kSpec, "specs/table9.yaml", "specs");
  EXPECT_EQ(spec.id, "9");
  EXPECT_EQ(spec.paper_csv, "paper/table9.csv");
  EXPECT_EQ(spec.models.at("m-7b"), (std::vector<std::string>{"org/m-7b", "local/m"}));
  ASSERT_EQ(spec.columns.size(), 2u);
  EXPECT_EQ(spec.columns[1].base, "qat");
  ASSERT_EQ(spec.measures.size(), 2u);
  EXPECT_EQ(spec.measures[0].label, "avg_bits");  // defaults to the key
  EXPECT_EQ(spec.measures[0].digits, 3);
  EXPECT_FALSE(spec.measures[0].mean_of_tasks);
  EXPECT_TRUE(spec.measures[1].mean_of_tasks);
  EXPECT_EQ(spec.measures[1].metric_by_task.at("arc_challenge"), "acc_norm");
  EXPECT_EQ(spec.measures[1].digits, 2);
  ASSERT_EQ(spec.rows.size(), 2u);
  EXPECT_EQ(spec.rows[0].paper_variant, "");
  EXPECT_EQ(spec.rows[1].paper_variant, "matquant(1,1,1)");
  EXPECT_EQ(spec.rows[1].line, 16);
}

TEST(ReportTableSpec, CellFiltersMergeTableColumnAndRow) {
  const TableSpec spec = parse_table_spec(kSpec, "table9.yaml", ".");
  const Filters plain = cell_filters(spec, spec.columns[0], {"org/m-7b"}, spec.rows[1]);
  EXPECT_EQ(plain, (Filters{{"base", {"omniquant"}}, {"scope", {"ffn"}}, {"seed", {"0", "1"}}, {"model", {"org/m-7b"}},
                            {"variant", {"matquant"}}, {"lambdas", {"[1,1,1]"}}}));
  const Filters qat_bf16 = cell_filters(spec, spec.columns[1], {"org/m-7b"}, spec.rows[0]);
  EXPECT_EQ(qat_bf16, (Filters{{"seed", {"0", "1"}}, {"model", {"org/m-7b"}}}));  // "*" removed base and scope
  const PaperKey key = cell_paper_key(spec, spec.columns[1], spec.rows[1], spec.measures[1]);
  EXPECT_EQ(key.base, "qat");
  EXPECT_EQ(key.variant, "matquant(1,1,1)");
  EXPECT_EQ(key.column, "task_avg");
}

TEST(ReportTableSpec, ReportsEveryProblemWithLineAndField) {
  const std::string bad = R"yaml(table: "9"
columns:
  - {label: no model}
measures:
  - {key: x, metric: acc}
rows:
  - {section: int2, precison: int2}
)yaml";
  try {
    parse_table_spec(bad, "bad.yaml", ".");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(std::string(e.what()),
              "bad.yaml:1: title: missing required field\n"
              "bad.yaml:3: columns[0].model: missing required field\n"
              "bad.yaml:5: measures[0]: give exactly one of 'task' (a task, or tasks tried in order) and 'mean_of' "
              "(tasks averaged)\n"
              "bad.yaml:7: rows[0].precison: unknown field\n"
              "bad.yaml:7: rows[0].precision: missing required field");
  }
}

TEST(ReportTableSpec, InvalidYamlNamesTheLine) {
  try {
    parse_table_spec("table: 1\nrows: [\n", "broken.yaml", ".");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("broken.yaml:", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid YAML"), std::string::npos) << e.what();
  }
}

TEST(ReportTableSpec, LambdasPerVariantAndColumn) {
  const TableSpec spec = parse_table_spec(R"yaml(table: "l"
title: Lambdas
lambdas: {matquant: [0.1, 0.1, 1], ep: "[1,1,1]"}
columns:
  - {model: a}
  - {model: b, lambdas: [0.4, 0.4, 1]}
measures:
  - {key: log_pplx, metric: log_pplx, task: validation}
rows:
  - {precision: int2, variant: matquant}
  - {precision: ep-int2, variant: ep}
  - {precision: int2, variant: matquant, where: {lambdas: "[0.2,0.2,1]"}}
  - {precision: int2, variant: baseline}
)yaml",
                                          "l.yaml", ".");
  const auto lambdas = [&](size_t column, size_t row) {
    const Filters f = cell_filters(spec, spec.columns[column], {"m"}, spec.rows[row]);
    const auto it = f.find("lambdas");
    return it == f.end() ? std::string("(none)") : it->second.at(0);
  };
  EXPECT_EQ(lambdas(0, 0), "[0.1,0.1,1]");
  EXPECT_EQ(lambdas(1, 0), "[0.4,0.4,1]");  // the column's weighting for its model
  EXPECT_EQ(lambdas(1, 1), "[1,1,1]");      // the column names none for ep: the table's
  EXPECT_EQ(lambdas(1, 2), "[0.2,0.2,1]");  // a row's own lambdas win
  EXPECT_EQ(lambdas(0, 3), "(none)");       // baselines have no weighting to pick
}

TEST(ReportTableSpec, SpecFileThatIsNotUtf8IsRefusedWithItsLine) {
  testing::TempDir dir;
  const std::string path = dir.file("table99.yaml");
  testing::write_text(path, "table: \"99\"\ntitle: caf\xe9\n");
  try {
    load_table_spec(path);
    ADD_FAILURE() << "a Latin-1 byte was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find(path + ":2:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace matquant::report
