// A read-only handle can never modify the database: not by plain writes, not by ATTACH, not by
// smuggling a second statement, not by switching query_only off.
#include "common/error.h"
#include "store/database.h"
#include "store/ingest.h"
#include "store/query.h"
#include "store_test_util.h"

#include <gtest/gtest.h>

namespace matquant::store {
namespace {

using testing::TempDir;

class StoreReadOnly : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("results.sqlite");
    Database db = Database::open(path_);
    const std::string file = dir_.file("result.json");
    testing::write_text(file, testing::sample_result().dump());
    ingest_result_file(db, file, "table1");
    before_ = testing::dump_tables(db);
  }

  void expect_refused(const std::string& sql) {
    SCOPED_TRACE(sql);
    {
      Database db = Database::open_read_only(path_);
      EXPECT_THROW(run_query(db, sql), Error);
      EXPECT_THROW(db.execute_script(sql), Error);
      EXPECT_THROW(db.write_transaction([] {}), Error);
    }
    Database check = Database::open_read_only(path_);
    EXPECT_EQ(testing::dump_tables(check), before_);
  }

  TempDir dir_;
  std::string path_;
  std::string before_;
};

TEST_F(StoreReadOnly, SelectWorks) {
  Database db = Database::open_read_only(path_);
  const QueryResult result = run_query(db, "SELECT metric, value FROM metrics WHERE task = ? ORDER BY metric", {"validation"});
  ASSERT_EQ(result.columns, (std::vector<std::string>{"metric", "value"}));
  ASSERT_EQ(result.rows.size(), 2u);
  EXPECT_EQ(result.rows[0][0].text, "log_pplx");
  EXPECT_EQ(result.rows[0][1].text, "2.83");
  EXPECT_EQ(result.rows[0][1].type, CellType::kReal);
}

TEST_F(StoreReadOnly, NullIsDistinctFromEmptyText) {
  Database db = Database::open_read_only(path_);
  const QueryResult result = run_query(db, "SELECT NULL, '', 1, 2.5");
  ASSERT_EQ(result.rows.size(), 1u);
  EXPECT_TRUE(result.rows[0][0].is_null());
  EXPECT_FALSE(result.rows[0][1].is_null());
  EXPECT_EQ(result.rows[0][1].type, CellType::kText);
  EXPECT_EQ(result.rows[0][2].type, CellType::kInteger);
}

TEST_F(StoreReadOnly, RefusesInsert) { expect_refused("INSERT INTO events (time, kind) VALUES ('now', 'x')"); }
TEST_F(StoreReadOnly, RefusesUpdate) { expect_refused("UPDATE runs SET status = 'failed'"); }
TEST_F(StoreReadOnly, RefusesDelete) { expect_refused("DELETE FROM metrics"); }
TEST_F(StoreReadOnly, RefusesDrop) { expect_refused("DROP TABLE metrics"); }
TEST_F(StoreReadOnly, RefusesCreate) { expect_refused("CREATE TABLE extra (x)"); }
TEST_F(StoreReadOnly, RefusesAttach) { expect_refused("ATTACH DATABASE '" + dir_.file("other.sqlite") + "' AS other"); }
TEST_F(StoreReadOnly, RefusesAttachOfItself) { expect_refused("ATTACH DATABASE '" + path_ + "' AS again"); }
TEST_F(StoreReadOnly, RefusesQueryOnlyOff) { expect_refused("PRAGMA query_only = 0"); }
TEST_F(StoreReadOnly, RefusesJournalModeChange) { expect_refused("PRAGMA journal_mode = DELETE"); }
TEST_F(StoreReadOnly, RefusesVacuumInto) { expect_refused("VACUUM INTO '" + dir_.file("copy.sqlite") + "'"); }

TEST_F(StoreReadOnly, RefusesASecondStatement) {
  Database db = Database::open_read_only(path_);
  for (const std::string sql : {"SELECT 1; DROP TABLE metrics", "SELECT 1; ; DELETE FROM runs",
                                "SELECT 1; -- comment\n INSERT INTO events (time, kind) VALUES ('t', 'k')"}) {
    SCOPED_TRACE(sql);
    try {
      run_query(db, sql);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("only one SQL statement"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(testing::dump_tables(db), before_);
  EXPECT_NO_THROW(run_query(db, "SELECT 1; -- trailing comment\n ;"));
}

TEST_F(StoreReadOnly, ReadWriteHandleQueryAlsoRefusesWrites) {
  // run_query is read-only whatever the handle: the statement itself is checked.
  Database db = Database::open(path_);
  EXPECT_THROW(run_query(db, "DELETE FROM metrics"), Error);
  EXPECT_EQ(testing::dump_tables(db), before_);
}

TEST_F(StoreReadOnly, ReportingPragmasAreAllowed) {
  Database db = Database::open_read_only(path_);
  EXPECT_FALSE(run_query(db, "PRAGMA table_info(runs)").rows.empty());
  EXPECT_EQ(run_query(db, "PRAGMA query_only").rows.at(0).at(0).text, "1");
}

TEST_F(StoreReadOnly, ReadsWhileAWriterIsOpen) {
  Database writer = Database::open(path_);
  Database reader = Database::open_read_only(path_);
  EXPECT_EQ(run_query(reader, "SELECT count(*) FROM runs").rows.at(0).at(0).text, "1");
}

}  // namespace
}  // namespace matquant::store
