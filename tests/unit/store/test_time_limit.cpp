// `matquant query --timeout` (issue 14): a recursive CTE without an end is stopped at the time
// limit instead of running forever; the handle stays usable and a limit of 0 removes it.
#include "common/error.h"
#include "store/database.h"
#include "store/query.h"
#include "store_test_util.h"

#include <gtest/gtest.h>

#include <chrono>

namespace matquant::store {
namespace {

using testing::TempDir;

constexpr const char* kEndless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

TEST(StoreTimeLimit, AnEndlessRecursiveQueryIsStoppedAtTheLimit) {
  TempDir dir;
  Database::open(dir.file("db.sqlite"));
  Database db = Database::open_read_only(dir.file("db.sqlite"));
  db.set_time_limit(0.3);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_query(db, kEndless), Error);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(db.time_limit_exceeded());
  EXPECT_GE(seconds, 0.3);
  EXPECT_LT(seconds, 5.0);
  // A fresh limit for the next query; a quick query is unaffected.
  db.set_time_limit(10);
  EXPECT_FALSE(db.time_limit_exceeded());
  EXPECT_EQ(run_query(db, "SELECT count(*) FROM runs").rows.at(0).at(0).text, "0");
  db.set_time_limit(0);
  EXPECT_FALSE(db.time_limit_exceeded());
}

}  // namespace
}  // namespace matquant::store
