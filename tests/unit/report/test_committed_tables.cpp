// Every committed table spec and paper CSV parses, every transcribed number is read by exactly
// one cell of its spec, and numbers the paper prints twice agree across tables (a check on the
// transcription) except where the paper itself disagrees (listed in experiments/paper/README.md).
#include "common/error.h"
#include "report/paper_numbers.h"
#include "report/report_table.h"
#include "report/table_spec.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace matquant::report {
namespace {

const std::string kTablesDir = std::string(MATQUANT_SOURCE_DIR) + "/experiments/tables";
const std::string kPaperDir = std::string(MATQUANT_SOURCE_DIR) + "/experiments/paper";

PaperNumbers paper_table(const std::string& id) { return PaperNumbers::load(kPaperDir + "/table" + id + ".csv"); }

std::string value(const PaperNumbers& paper, const PaperKey& key) {
  const auto found = paper.find(key);
  return found ? found->text : "<missing>";
}

TEST(CommittedTables, EverySpecAndPaperCsvParses) {
  const auto specs = list_table_specs(kTablesDir);
  ASSERT_GE(specs.size(), 3u);
  std::set<std::string> ids;
  for (const std::string& path : specs) {
    SCOPED_TRACE(path);
    TableSpec spec;
    ASSERT_NO_THROW(spec = load_table_spec(path));
    EXPECT_TRUE(ids.insert(spec.id).second) << "duplicate table id " << spec.id;
    EXPECT_EQ(find_table_spec(kTablesDir, spec.id), path);
    if (spec.paper_csv.empty()) continue;  // a table of our runs only (ptq.yaml): nothing to transcribe
    PaperNumbers paper;
    ASSERT_NO_THROW(paper = PaperNumbers::load(spec.paper_csv));
    for (const auto& [key, v] : paper.values()) EXPECT_EQ(key.table, spec.id) << spec.paper_csv << ":" << v.line;
    for (const PaperKey& key : unused_paper_entries(spec, paper)) {
      ADD_FAILURE() << spec.paper_csv << ": no cell reads (" << key.model << ", " << key.base << ", " << key.variant
                    << ", " << key.precision << ", " << key.column << ")";
    }
  }
  for (int id = 1; id <= 23; ++id) EXPECT_EQ(ids.count(std::to_string(id)), 1u) << "table " << id;
}

TEST(CommittedTables, EveryPaperCsvHasASpec) {
  for (const auto& entry : boost::filesystem::directory_iterator(kPaperDir)) {
    if (entry.path().extension() != ".csv") continue;
    const PaperNumbers paper = PaperNumbers::load(entry.path().string());
    ASSERT_FALSE(paper.empty()) << entry.path();
    EXPECT_NO_THROW(find_table_spec(kTablesDir, paper.values().begin()->first.table)) << entry.path();
  }
}

TEST(CommittedTables, TablesOneTwoAndSevenHaveEveryCell) {
  // Table 1 and 2: 15 rows x 3 models x 2 measures; Table 7: bfloat16 has no Avg. Bits.
  EXPECT_EQ(paper_table("1").values().size(), 90u);
  EXPECT_EQ(paper_table("2").values().size(), 90u);
  EXPECT_EQ(paper_table("7").values().size(), 11u * 3 * 3 - 3);
}

TEST(CommittedTables, AppendixTablesHaveEveryCell) {
  // Rows x printed numbers per row, counted in the seed text.
  EXPECT_EQ(paper_table("8").values().size(), 12u * 4);  // Task Avg. and log pplx. of two methods
  for (const std::string id : {"9", "10", "11", "12", "13", "14"}) {
    EXPECT_EQ(paper_table(id).values().size(), 15u * 7) << "table " << id;  // six tasks and Average
  }
  EXPECT_EQ(paper_table("15").values().size(), 40u * 7);  // 5 precisions x 8 weightings
  EXPECT_EQ(paper_table("16").values().size(), 15u * 8);  // + log pplx.
  EXPECT_EQ(paper_table("17").values().size(), 15u * 8);
  EXPECT_EQ(paper_table("18").values().size(), 17u * 7);  // Table 6's rows, with S.P. MatQuant
  EXPECT_EQ(paper_table("19").values().size(), 17u * 7);
  for (const std::string id : {"20", "23"}) EXPECT_EQ(paper_table(id).values().size(), 6u * 8) << "table " << id;
  for (const std::string id : {"21", "22"}) EXPECT_EQ(paper_table(id).values().size(), 9u * 8) << "table " << id;
}

TEST(CommittedTables, AppendixSpotChecksAgainstThePaper) {
  // Values read by eye from the seed text.
  const PaperNumbers t8 = paper_table("8");
  EXPECT_EQ(value(t8, {"8", "gemma-2-9b", "omniquant", "[8, 4, 2, 8->2]", "ep-int2", "task_avg"}), "70.17");
  EXPECT_EQ(value(t8, {"8", "gemma-2-9b", "omniquant", "[8, 4, 8->2]", "int2", "log_pplx"}), "3.289");
  EXPECT_EQ(value(paper_table("9"), {"9", "gemma-2-2b", "omniquant", "baseline", "int8", "arc_c"}), "50");
  EXPECT_EQ(value(paper_table("10"), {"10", "gemma-2-9b", "omniquant", "sliced", "int3", "hellaswag"}), "46.91");
  EXPECT_EQ(value(paper_table("11"), {"11", "mistral-7b", "omniquant", "matquant", "int2", "winogrande"}), "63.14");
  // Table 12's text prints the Data type labels one row late; the numbers follow Table 1's order.
  EXPECT_EQ(value(paper_table("12"), {"12", "gemma-2-2b", "qat", "sliced", "int4", "arc_c"}), "46.16");
  EXPECT_EQ(value(paper_table("13"), {"13", "gemma-2-9b", "qat", "baseline", "int3", "boolq"}), "66.61");
  EXPECT_EQ(value(paper_table("14"), {"14", "mistral-7b", "qat", "", "bf16", "piqa"}), "81.18");
  EXPECT_EQ(value(paper_table("15"), {"15", "mistral-7b", "omniquant", "ep(sqrt(2),sqrt(2),1)", "ep-int2", "task_avg"}),
            "57.85");
  EXPECT_EQ(value(paper_table("16"), {"16", "gemma-2-9b", "omniquant", "ep[8, 4, 2, 8->2]", "ep-int2", "log_pplx"}),
            "2.778");
  EXPECT_EQ(value(paper_table("17"), {"17", "gemma-2-9b", "qat", "ep[8, 4, 2, 8->4;2]", "ep-int3", "log_pplx"}), "2.731");
  const auto diverged = paper_table("19").find({"19", "mistral-7b", "qat", "baseline", "int3", "arc_e"});
  ASSERT_TRUE(diverged.has_value());
  EXPECT_TRUE(diverged->diverged);
  EXPECT_EQ(value(paper_table("18"), {"18", "gemma-2-9b", "qat", "sp", "ep-int3", "task_avg"}), "68.69");
  EXPECT_EQ(value(paper_table("19"), {"19", "mistral-7b", "qat", "sliced", "ep-int4", "piqa"}), "80.41");
  EXPECT_EQ(value(paper_table("20"), {"20", "gemma-2-2b", "qat", "sp", "ep-int2", "log_pplx"}), "3.090");
  EXPECT_EQ(value(paper_table("21"), {"21", "gemma-2-9b", "omniquant", "ep", "ep-int4", "boolq"}), "84.86");
  EXPECT_EQ(value(paper_table("22"), {"22", "gemma-2-9b", "qat", "sp", "ep-int8", "task_avg"}), "72.88");
  EXPECT_EQ(value(paper_table("23"), {"23", "mistral-7b", "omniquant", "baseline", "int2", "log_pplx"}), "3.931");
}

TEST(CommittedTables, SpotChecksAgainstThePaper) {
  const PaperNumbers t1 = paper_table("1");
  EXPECT_EQ(value(t1, {"1", "gemma-2-9b", "omniquant", "matquant", "int2", "task_avg"}), "63.35");
  EXPECT_EQ(value(t1, {"1", "gemma-2-2b", "omniquant", "sliced", "int2", "log_pplx"}), "17.030");
  EXPECT_EQ(value(t1, {"1", "mistral-7b", "omniquant", "", "bf16", "log_pplx"}), "2.110");
  const PaperNumbers t2 = paper_table("2");
  EXPECT_EQ(value(t2, {"2", "mistral-7b", "qat", "matquant", "int2", "task_avg"}), "61.97");
  EXPECT_EQ(value(t2, {"2", "gemma-2-9b", "qat", "baseline", "int3", "task_avg"}), "69.9");
  EXPECT_EQ(value(t2, {"2", "gemma-2-2b", "qat", "sliced", "int4", "task_avg"}), "67.13");
  const PaperNumbers t7 = paper_table("7");
  EXPECT_EQ(value(t7, {"7", "gemma-2-2b", "omniquant", "ep", "ep-int2", "avg_bits"}), "2.052");
  EXPECT_EQ(value(t7, {"7", "gemma-2-9b", "omniquant", "ep", "ep-int2", "task_avg"}), "68.25");
  EXPECT_EQ(value(t7, {"7", "mistral-7b", "omniquant", "ep", "ep-int3", "avg_bits"}), "3.030");
  const PaperNumbers t6 = paper_table("6");
  const auto diverged = t6.find({"6", "gemma-2-9b", "qat", "baseline", "int2", "task_avg"});
  ASSERT_TRUE(diverged.has_value());
  EXPECT_TRUE(diverged->diverged);
}

// Entries of `table` that must equal the same (model, base, variant, precision, column) of
// `other` after renaming the variant; `known` lists keys where the paper prints different numbers.
void expect_consistent(const PaperNumbers& table, const PaperNumbers& other, const std::string& other_id,
                       const std::map<std::string, std::string>& variant_in_other, const std::set<std::string>& known) {
  for (const auto& [key, v] : table.values()) {
    const auto renamed = variant_in_other.find(key.variant);
    if (renamed == variant_in_other.end()) continue;
    PaperKey other_key = key;
    other_key.table = other_id;
    other_key.variant = renamed->second;
    const auto found = other.find(other_key);
    if (!found) continue;
    const std::string where = key.table + ":" + key.model + "/" + key.base + "/" + key.variant + "/" + key.precision + "/" + key.column;
    if (known.count(where) != 0) {
      EXPECT_NE(found->value, v.value) << where << " is listed as a paper inconsistency but agrees";
    } else {
      EXPECT_EQ(found->value, v.value) << where << " vs table " << other_id;
    }
  }
}

TEST(CommittedTables, NumbersPrintedTwiceAgree) {
  const PaperNumbers t1 = paper_table("1"), t2 = paper_table("2"), t3 = paper_table("3"), t4 = paper_table("4"),
                     t5 = paper_table("5"), t7 = paper_table("7");
  // Table 7's MatQuant rows and bfloat16 are Table 1's.
  expect_consistent(t7, t1, "1", {{"matquant", "matquant"}, {"", ""}}, {});
  // Table 5 repeats the int2 rows of Tables 1 (OmniQuant) and 2 (QAT).
  expect_consistent(t5, t1, "1", {{"baseline", "baseline"}, {"matquant", "matquant"}}, {});
  expect_consistent(t5, t2, "2", {{"baseline", "baseline"}, {"matquant", "matquant"}},
                    {"5:gemma-2-9b/qat/matquant/int2/log_pplx"});  // Table 2 prints 2.265, Table 5 2.660
  // Table 3's (0.1, 0.1, 1) column is MatQuant of Table 1 for the Gemma models.
  for (const std::string model : {"gemma-2-2b", "gemma-2-9b"}) {
    for (const std::string precision : {"int8", "int4", "int2"}) {
      EXPECT_EQ(value(t3, {"3", model, "omniquant", "matquant(0.1,0.1,1)", precision, "task_avg"}),
                value(t1, {"1", model, "omniquant", "matquant", precision, "task_avg"}))
          << model << " " << precision;
    }
  }
  // Table 4's [8, 4, 2] rows are MatQuant on Gemma-2 9B in Tables 1 and 2.
  expect_consistent(t4, t1, "1", {{"matquant[8, 4, 2]", "matquant"}}, {});
  expect_consistent(t4, t2, "2", {{"matquant[8, 4, 2]", "matquant"}},
                    {"4:gemma-2-9b/qat/matquant[8, 4, 2]/int4/log_pplx",    // Table 2 prints 2.429
                     "4:gemma-2-9b/qat/matquant[8, 4, 2]/int2/log_pplx"});  // Table 2 prints 2.265
}

TEST(CommittedTables, AppendixNumbersPrintedTwiceAgree) {
  const PaperNumbers t1 = paper_table("1"), t2 = paper_table("2"), t4 = paper_table("4"), t5 = paper_table("5"),
                     t6 = paper_table("6"), t8 = paper_table("8");
  const std::map<std::string, std::string> same = {{"", ""}, {"baseline", "baseline"}, {"sliced", "sliced"},
                                                   {"matquant", "matquant"}, {"sp", "sp"}};
  // The per-task tables' Average is the Task Avg. of Tables 1 (OmniQuant) and 2 (QAT).
  for (const std::string id : {"9", "10", "11"}) expect_consistent(paper_table(id), t1, "1", same, {});
  for (const std::string id : {"12", "13", "14"}) expect_consistent(paper_table(id), t2, "2", same, {});
  // Table 8's MatQuant column is Table 4's OmniQuant column.
  std::map<std::string, std::string> configs;
  for (const std::string config : {"[8, 4, 2]", "[8, 4, 8->2]", "[8, 4, 2, 8->2]", "[8, 4, 2, 8->4;2]"}) {
    configs[config] = "matquant" + config;
  }
  expect_consistent(t8, t4, "4", configs, {});
  // seeds/000's Extra-Precision co-distillation (Table 16) is Table 8's E.P. column.
  expect_consistent(paper_table("16"), t8, "8",
                    {{"ep[8, 4, 8->2]", "[8, 4, 8->2]"}, {"ep[8, 4, 2, 8->2]", "[8, 4, 2, 8->2]"},
                     {"ep[8, 4, 2, 8->4;2]", "[8, 4, 2, 8->4;2]"}},
                    {});
  // seeds/000's Single-Precision tables repeat the int2 baselines of Table 5 and the FFN + attention
  // baselines of Table 6.
  expect_consistent(paper_table("20"), t5, "5", {{"baseline", "baseline"}}, {});
  expect_consistent(paper_table("23"), t5, "5", {{"baseline", "baseline"}},
                    {"23:mistral-7b/qat/baseline/int2/log_pplx"});  // Table 5 prints 2.699
  expect_consistent(paper_table("21"), t1, "1", {{"baseline", "baseline"}}, {});
  expect_consistent(paper_table("22"), t2, "2", {{"baseline", "baseline"}},
                    {"22:gemma-2-9b/qat/baseline/int8/task_avg",    // Table 22 prints Gemma-2 2B's 67.82
                     "22:gemma-2-9b/qat/baseline/int4/task_avg"});  // and 67.03 (Table 12)
  expect_consistent(paper_table("18"), t6, "6", {{"baseline", "baseline"}, {"", ""}}, {});
  expect_consistent(paper_table("19"), t6, "6", {{"baseline", "baseline"}, {"", ""}}, {});
  // Its Extra-Precision int8/int4/int2 (Table 21) is Table 8's E.P. [8, 4, 2] row.
  expect_consistent(paper_table("21"), t8, "8", {{"ep", "[8, 4, 2]"}}, {});
}

// seeds/000 is the first draft, which sliced every model with Eq. 8 (no clamp; the errata of
// seeds/001): each of its MatQuant, Sliced int8 and S.P. MatQuant numbers is an Eq. 8 slice, keyed
// at ep-int<r> and read from variant ep runs. Only its baselines (trained at r bits, never sliced)
// and bfloat16 keep Eq. 6-era keys. Keying a draft row at `sliced`/`sp` int<r> would compare it
// with our Eq. 6 runs.
TEST(CommittedTables, FirstDraftRowsAreEquationEightSlices) {
  // Among variant ep runs, `bits` tells the draft's models apart: [8] trains the int8 baseline
  // (r = c, no slicing), so its ep-int<r> slices are the draft's Sliced int8; [2] is S.P. MatQuant.
  // Each row also names lambdas and distillation, so that it selects one configuration.
  const std::map<std::string, std::string> bits_of = {{"sliced", "[8]"}, {"sp", "[2]"}};
  for (int number = 15; number <= 23; ++number) {
    const std::string id = std::to_string(number);
    const TableSpec spec = load_table_spec(find_table_spec(kTablesDir, id));
    for (const RowSpec& row : spec.rows) {
      if (row.variant.empty() || row.variant == "baseline") continue;
      SCOPED_TRACE("table " + id + " line " + std::to_string(row.line) + " " + row.label);
      EXPECT_EQ(row.precision.rfind("ep-int", 0), 0u) << row.precision;
      EXPECT_EQ(row.variant, "ep");  // the only runs that store ep-int<r> labels
      for (const std::string param : {"bits", "lambdas", "distillation"}) {
        ASSERT_EQ(row.where.count(param), 1u) << param;
        EXPECT_EQ(row.where.at(param).size(), 1u) << param;
      }
      const auto named = bits_of.find(row.paper_variant);
      EXPECT_EQ(row.where.at("bits").front(), named == bits_of.end() ? "[8,4,2]" : named->second);
      if (named != bits_of.end()) EXPECT_EQ(row.where.at("lambdas").front(), "[1]");
    }
    const PaperNumbers paper = paper_table(id);
    for (const auto& [key, v] : paper.values()) {
      if (key.variant.empty() || key.variant == "baseline") continue;
      EXPECT_EQ(key.precision.rfind("ep-int", 0), 0u) << spec.paper_csv << ":" << v.line << " " << key.variant;
    }
  }
}

TEST(CommittedTables, FirstDraftMatQuantIsTheRevisionsExtraPrecisionMatQuant) {
  const PaperNumbers t7 = paper_table("7"), t15 = paper_table("15"), t23 = paper_table("23");
  // Mistral 7B: Table 15's (1, 1, 1) rows and Table 23's OmniQuant MatQuant are Table 7's E.P.
  // MatQuant (Table 28 of seeds/001).
  for (const std::string p : {"ep-int8", "ep-int4", "ep-int2", "ep-int6", "ep-int3"}) {
    EXPECT_EQ(value(t15, {"15", "mistral-7b", "omniquant", "ep(1,1,1)", p, "task_avg"}),
              value(t7, {"7", "mistral-7b", "omniquant", "ep", p, "task_avg"}))
        << p;
  }
  for (const std::string column : {"task_avg", "log_pplx"}) {
    EXPECT_EQ(value(t23, {"23", "mistral-7b", "omniquant", "ep", "ep-int2", column}),
              value(t7, {"7", "mistral-7b", "omniquant", "ep", "ep-int2", column}))
        << column;
  }
  // Gemma-2 2B: Table 20 prints Table 26's E.P. int2 (55.71); Table 7 prints 55.70 and 3.355.
  expect_consistent(paper_table("20"), t7, "7", {{"ep", "ep"}},
                    {"20:gemma-2-2b/omniquant/ep/ep-int2/task_avg", "20:gemma-2-2b/omniquant/ep/ep-int2/log_pplx"});
}

TEST(CommittedTables, FirstDraftSlicesDifferFromTheRevisionsEquationSixSlices) {
  // The draft's baselines are the revision's (AppendixNumbersPrintedTwiceAgree), but every Sliced
  // int8 and S.P. MatQuant number it shares with Tables 5 and 6 differs: they were sliced by Eq. 8.
  // Tables 18-19 are Table 6's experiment (FFN + Attention), Tables 20-23 Table 5's (FFN).
  const PaperNumbers t5 = paper_table("5"), t6 = paper_table("6");
  int compared = 0;
  for (int number = 18; number <= 23; ++number) {
    const std::string other_id = number <= 19 ? "6" : "5";
    const PaperNumbers& other = number <= 19 ? t6 : t5;
    const PaperNumbers draft = paper_table(std::to_string(number));
    for (const auto& [key, v] : draft.values()) {
      if (key.variant != "sliced" && key.variant != "sp") continue;
      PaperKey eq6_key = key;
      eq6_key.table = other_id;
      eq6_key.precision = key.precision.substr(std::string("ep-").size());  // ep-int2 -> int2
      const auto found = other.find(eq6_key);
      if (!found) continue;
      ++compared;
      EXPECT_NE(found->value, v.value) << "table " << key.table << " " << key.model << "/" << key.base << "/"
                                       << key.variant << "/" << key.precision << "/" << key.column;
    }
  }
  EXPECT_EQ(compared, 24);  // Tables 18-19: 12 Averages; 20-23: 6 S.P. int2 rows x (Task Avg., log pplx.)
}

// Seed 004's Tables 1-6 (experiments/paper/004-table*.csv): the values counted in the extracted
// text (README lists what it lacks), and every per-task Avg. of Tables 4-6 equals the 0-shot8
// column of Tables 1-2 for the same model, method and format, as the paper prints them twice.
TEST(CommittedTables, Seed004TablesHaveTheirCellsAndAgree) {
  const std::map<std::string, size_t> counts = {{"1", 210}, {"2", 148}, {"3", 57}, {"4", 504}, {"5", 333}, {"6", 630}};
  std::map<std::string, PaperNumbers> tables;
  for (const auto& [id, count] : counts) {
    tables[id] = PaperNumbers::load(kPaperDir + "/004-table" + id + ".csv");
    EXPECT_EQ(tables[id].values().size(), count) << "seed 004 table " << id;
  }
  int compared = 0;
  for (const std::string detail : {"4", "5", "6"}) {
    for (const auto& [key, v] : tables[detail].values()) {
      if (key.column != "task_avg") continue;
      for (const std::string summary : {"1", "2"}) {
        PaperKey other = key;
        other.table = "004-" + summary;
        if (const auto found = tables[summary].find(other)) {
          EXPECT_EQ(found->text, v.text) << key.model << " " << key.variant << " " << key.precision;
          ++compared;
        }
      }
    }
  }
  EXPECT_GE(compared, 150);
}

}  // namespace
}  // namespace matquant::report
