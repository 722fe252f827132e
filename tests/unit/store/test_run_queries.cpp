// `results list|show` queries: filtering, resolving a run by key, prefix or name.
#include "common/error.h"
#include "store/database.h"
#include "store/ingest.h"
#include "store/run_log.h"
#include "store/run_queries.h"
#include "store_test_util.h"

#include <gtest/gtest.h>

#include <memory>

namespace matquant::store {
namespace {

using testing::TempDir;

class StoreRunQueries : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<Database>(Database::open(dir_.file("results.sqlite")));
    const std::string file = dir_.file("result.json");
    testing::write_text(file, testing::sample_result("aaaaaaaa1111", "job-1").dump());
    ingest_result_file(*db_, file, "table1");
    record_run_planned(*db_, {"aaaaaaaa2222", "planned-run", "table2", {{"model", "m"}}, {{"job-2", "train", ""}}});
    record_run_planned(*db_, {"bbbbbbbb3333", "planned-run", "table2", {{"model", "m"}}, {{"job-3", "train", ""}}});
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(StoreRunQueries, ListFiltersBySweepAndStatus) {
  EXPECT_EQ(list_runs(*db_, {}).rows.size(), 3u);
  const QueryResult table1 = list_runs(*db_, {"table1", ""});
  ASSERT_EQ(table1.rows.size(), 1u);
  EXPECT_EQ(table1.columns, (std::vector<std::string>{"run_key", "name", "sweep", "status", "jobs", "created_at", "finished_at"}));
  EXPECT_EQ(table1.rows[0][0].text, "aaaaaaaa1111");
  EXPECT_EQ(table1.rows[0][3].text, "done");
  EXPECT_EQ(table1.rows[0][4].text, "1/1");
  EXPECT_EQ(list_runs(*db_, {"", "planned"}).rows.size(), 2u);
  EXPECT_EQ(list_runs(*db_, {"table2", "done"}).rows.size(), 0u);
}

TEST_F(StoreRunQueries, ResolvesKeyPrefixAndName) {
  EXPECT_EQ(resolve_run(*db_, "aaaaaaaa1111"), "aaaaaaaa1111");
  EXPECT_EQ(resolve_run(*db_, "bbbbbb"), "bbbbbbbb3333");
  EXPECT_EQ(resolve_run(*db_, "tiny-matquant"), "aaaaaaaa1111");
  EXPECT_THROW(resolve_run(*db_, "bbb"), Error);  // prefixes need 6 characters
  try {
    resolve_run(*db_, "aaaaaaaa");
    FAIL() << "ambiguous prefix accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "'aaaaaaaa' matches 2 runs (aaaaaaaa1111, aaaaaaaa2222); give more of the run key");
  }
  try {
    resolve_run(*db_, "nothing-like-it");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
  EXPECT_THROW(resolve_run(*db_, "planned-run"), Error);  // two runs share the name
}

TEST_F(StoreRunQueries, ShowListsParamsJobsAndMetrics) {
  const RunDetails details = show_run(*db_, "tiny-matquant");
  ASSERT_EQ(details.run.columns, (std::vector<std::string>{"field", "value"}));
  ASSERT_EQ(details.run.rows.at(0)[0].text, "run_key");
  ASSERT_EQ(details.run.rows.at(0)[1].text, "aaaaaaaa1111");
  EXPECT_EQ(details.jobs.rows.size(), 1u);
  EXPECT_EQ(details.metrics.rows.size(), 2u);
  EXPECT_EQ(details.metrics.rows[0][2].text, "log_pplx");
  const std::string text = format_run_details(details, RowFormat::kTable);
  EXPECT_EQ(text.rfind("== run\n", 0), 0u);
  EXPECT_NE(text.find("\n== metrics\nprecision  task        metric    value\n"), std::string::npos) << text;
  const auto json = nlohmann::json::parse(format_run_details(details, RowFormat::kJson));
  EXPECT_EQ(json["metrics"][0]["value"], 2.83);
  EXPECT_THROW(format_run_details(details, RowFormat::kCsv), Error);
}

}  // namespace
}  // namespace matquant::store
