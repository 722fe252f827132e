// Migrations: a new file gets the newest schema; reopening applies nothing twice.
#include "common/error.h"
#include "store/database.h"
#include "store/query.h"
#include "store/schema.h"
#include "store_test_util.h"

#include <gtest/gtest.h>

namespace matquant::store {
namespace {

using testing::TempDir;

TEST(StoreSchema, NewDatabaseHasEveryTableAtTheNewestVersion) {
  TempDir dir;
  Database db = Database::open(dir.file("sub/dir/results.sqlite"));  // parent directories created
  EXPECT_EQ(schema_version(db), migrations().back().version);
  const QueryResult tables = run_query(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  std::vector<std::string> names;
  for (const auto& row : tables.rows) names.push_back(row[0].text);
  EXPECT_EQ(names, (std::vector<std::string>{"artifacts", "events", "jobs", "metrics", "params", "run_jobs", "runs",
                                             "schema_version", "sweeps"}));
}

TEST(StoreSchema, ReopeningIsIdempotent) {
  TempDir dir;
  const std::string path = dir.file("results.sqlite");
  std::string schema_before;
  {
    Database db = Database::open(path);
    schema_before = testing::dump_tables(db);
  }
  for (int i = 0; i < 3; ++i) {
    Database db = Database::open(path);
    EXPECT_EQ(schema_version(db), 1);
    const QueryResult versions = run_query(db, "SELECT version FROM schema_version");
    ASSERT_EQ(versions.rows.size(), 1u);
    EXPECT_EQ(testing::dump_tables(db), schema_before);
  }
}

TEST(StoreSchema, OpensInWalModeWithForeignKeys) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  Statement journal = db.prepare("PRAGMA journal_mode");  // not a read-only statement for run_query
  ASSERT_TRUE(journal.step());
  EXPECT_EQ(journal.column_text(0), "wal");
  EXPECT_EQ(run_query(db, "PRAGMA foreign_keys").rows.at(0).at(0).text, "1");
  EXPECT_EQ(run_query(db, "PRAGMA busy_timeout").rows.at(0).at(0).text, std::to_string(kBusyTimeoutMs));
}

TEST(StoreSchema, RefusesADatabaseFromANewerBuild) {
  TempDir dir;
  const std::string path = dir.file("results.sqlite");
  {
    Database db = Database::open(path);
    db.execute_script("INSERT INTO schema_version VALUES (99, 'from the future', '2030-01-01T00:00:00Z')");
  }
  try {
    Database::open(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST(StoreSchema, ReadOnlyOpenOfAMissingFileIsNotFound) {
  TempDir dir;
  try {
    Database::open_read_only(dir.file("missing.sqlite"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

}  // namespace
}  // namespace matquant::store
