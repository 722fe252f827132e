// Two writers: the second waits on the busy timeout while the first holds the write lock, then
// succeeds, instead of failing with "database is locked".
#include "common/error.h"
#include "store/database.h"
#include "store/query.h"
#include "store/run_log.h"
#include "store_test_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace matquant::store {
namespace {

using testing::TempDir;

TEST(StoreConcurrency, SecondWriterWaitsForTheFirst) {
  TempDir dir;
  const std::string path = dir.file("results.sqlite");
  Database first = Database::open(path);
  Database second = Database::open(path);
  constexpr auto kHold = std::chrono::milliseconds(400);

  std::atomic<bool> locked{false};
  std::thread holder([&] {
    first.write_transaction([&] {
      record_event(first, "test", "first writer");
      locked = true;
      std::this_thread::sleep_for(kHold);
    });
  });
  while (!locked) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NO_THROW(second.write_transaction([&] { record_event(second, "test", "second writer"); }));
  const auto waited = std::chrono::steady_clock::now() - start;
  holder.join();

  EXPECT_GE(waited, kHold / 2);  // it queued behind the first transaction
  const QueryResult events = run_query(second, "SELECT message FROM events ORDER BY id");
  ASSERT_EQ(events.rows.size(), 2u);
  EXPECT_EQ(events.rows[0][0].text, "first writer");
  EXPECT_EQ(events.rows[1][0].text, "second writer");
}

TEST(StoreConcurrency, ReaderSeesCommittedDataWhileAWriteIsOpen) {
  TempDir dir;
  const std::string path = dir.file("results.sqlite");
  Database writer = Database::open(path);
  record_event(writer, "test", "committed");
  Database reader = Database::open_read_only(path);
  writer.write_transaction([&] {
    record_event(writer, "test", "uncommitted");
    // WAL: the reader is not blocked and sees only committed rows.
    EXPECT_EQ(run_query(reader, "SELECT count(*) FROM events").rows.at(0).at(0).text, "1");
  });
  EXPECT_EQ(run_query(reader, "SELECT count(*) FROM events").rows.at(0).at(0).text, "2");
}

TEST(StoreConcurrency, FailedTransactionRollsBack) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  EXPECT_THROW(db.write_transaction([&] {
    record_event(db, "test", "rolled back");
    throw_invalid("boom");
  }),
               Error);
  EXPECT_EQ(run_query(db, "SELECT count(*) FROM events").rows.at(0).at(0).text, "0");
}

}  // namespace
}  // namespace matquant::store
