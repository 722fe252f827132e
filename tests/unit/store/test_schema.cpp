// Migrations: a new file gets the newest schema; reopening applies nothing twice.
#include "common/error.h"
#include "store/database.h"
#include "store/query.h"
#include "store/schema.h"
#include "store_test_util.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <iterator>

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
  EXPECT_EQ(names, (std::vector<std::string>{"artifacts", "events", "jobs", "metrics", "params", "run_jobs",
                                             "runner_leases", "runs", "schema_version", "sweeps"}));
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
    EXPECT_EQ(schema_version(db), 2);
    const QueryResult versions = run_query(db, "SELECT version FROM schema_version");
    ASSERT_EQ(versions.rows.size(), 2u);
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

TEST(StoreSchema, AVersion1DatabaseIsMigratedToTheLeaseTableKeepingItsRows) {
  TempDir dir;
  const std::string path = dir.file("results.sqlite");
  {
    Database db = Database::open(path);
    db.execute_script("INSERT INTO sweeps (name, created_at) VALUES ('old', '2026-01-01T00:00:00Z');"
                      "DROP TABLE runner_leases; DELETE FROM schema_version WHERE version = 2;");
    EXPECT_EQ(schema_version(db), 1);
  }
  Database db = Database::open(path);
  EXPECT_EQ(schema_version(db), 2);
  EXPECT_EQ(run_query(db, "SELECT count(*) FROM runner_leases").rows.at(0).at(0).text, "0");
  EXPECT_EQ(run_query(db, "SELECT name FROM sweeps").rows.at(0).at(0).text, "old");
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

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput) << e.what();
    return e.what();
  }
  return "(no error)";
}

// Issue 14: a file that is not SQLite is refused in one line and left byte for byte as it was,
// by writers and readers alike.
TEST(StoreSchema, AGarbageFileIsRefusedAndLeftUntouched) {
  TempDir dir;
  const std::string path = dir.file("garbage.sqlite");
  std::string garbage = "this is not a database\n";
  for (int i = 0; i < 400; ++i) garbage += char(i * 37 % 251);
  testing::write_text(path, garbage);
  const std::string open_error = error_of([&] { Database::open(path); });
  EXPECT_NE(open_error.find("is not a matquant results database (not an SQLite file"), std::string::npos) << open_error;
  EXPECT_EQ(open_error.find('\n'), std::string::npos);
  const std::string read_error = error_of([&] { Database::open_read_only(path); });
  EXPECT_NE(read_error.find("is not a matquant results database"), std::string::npos) << read_error;
  EXPECT_EQ(read_bytes(path), garbage);
  EXPECT_FALSE(boost::filesystem::exists(path + "-wal"));
}

// A 0-byte file: a new database where creating is intended (sweep run, ingest), never for readers.
TEST(StoreSchema, AnEmptyFileIsNotAResultsDatabaseForReaders) {
  TempDir dir;
  const std::string path = dir.file("empty.sqlite");
  testing::write_text(path, "");
  const std::string message = error_of([&] { Database::open_read_only(path); });
  EXPECT_NE(message.find("empty.sqlite is not a matquant results database"), std::string::npos) << message;
  EXPECT_EQ(boost::filesystem::file_size(path), 0u);
  Database db = Database::open(path);
  EXPECT_EQ(schema_version(db), migrations().back().version);
}

TEST(StoreSchema, AnotherProgramsSqliteFileIsRefused) {
  TempDir dir;
  const std::string path = dir.file("other.sqlite");
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE photos (id INTEGER)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  const std::string before = read_bytes(path);
  EXPECT_NE(error_of([&] { Database::open(path); }).find("other tables"), std::string::npos);
  EXPECT_NE(error_of([&] { Database::open_read_only(path); }).find("not a matquant results database"), std::string::npos);
  EXPECT_EQ(read_bytes(path), before);
}

}  // namespace
}  // namespace matquant::store
