// One sweep runner per database (issue 14): a live holder on this host refuses a second runner,
// a killed one's lease is taken over, and another host's lease goes stale after its heartbeat ages.
#include "common/error.h"
#include "store/database.h"
#include "store/runner_lease.h"
#include "store_test_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace matquant::store {
namespace {

using testing::TempDir;

std::string refusal(Database& db) {
  try {
    acquire_runner_lease(db, "/work/b", "s");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    return e.what();
  }
  return "";
}

TEST(RunnerLease, ALiveRunnerRefusesASecondAndAKilledOnesLeaseIsTakenOver) {
  TempDir dir;
  const std::string path = dir.file("db.sqlite");
  Database::open(path);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    Database db = Database::open(path);
    acquire_runner_lease(db, "/work/a", "first");
    char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  Database db = Database::open(path);
  const std::string message = refusal(db);
  EXPECT_NE(message.find("another sweep runner is using"), std::string::npos) << message;
  EXPECT_NE(message.find("pid " + std::to_string(child)), std::string::npos) << message;
  EXPECT_NE(message.find("/work/a"), std::string::npos) << message;
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  const auto replaced = acquire_runner_lease(db, "/work/b", "second");
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->pid, long(child));
  EXPECT_EQ(runner_lease_holder(db)->work_dir, "/work/b");
  renew_runner_lease(db);
  release_runner_lease(db);
  EXPECT_FALSE(runner_lease_holder(db).has_value());
}

TEST(RunnerLease, AnotherHostsLeaseIsStaleOnlyOnceItsHeartbeatIsOld) {
  TempDir dir;
  Database db = Database::open(dir.file("db.sqlite"));
  const auto insert = [&](const std::string& heartbeat_sql) {
    db.execute_script("INSERT OR REPLACE INTO runner_leases VALUES (1, 42, '7', 'elsewhere', '/w', 's', "
                      "'2026-01-01T00:00:00Z', " + heartbeat_sql + ")");
  };
  insert("strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 seconds')");
  EXPECT_NE(refusal(db).find("pid 42 on elsewhere"), std::string::npos);
  insert("strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-" + std::to_string(kLeaseStaleSeconds + 30) + " seconds')");
  const auto replaced = acquire_runner_lease(db, "/work/b", "s");
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->host, "elsewhere");
}

TEST(RunnerLease, AReusedPidIsNotTheHolder) {
  TempDir dir;
  Database db = Database::open(dir.file("db.sqlite"));
  // This host, a live pid (ours' parent) but another start time: the runner that held it is gone.
  const RunnerLeaseHolder self = this_process_as_holder();
  db.prepare("INSERT INTO runner_leases VALUES (1, ?, 'not-its-start-time', ?, '/w', 's', ?, ?)")
      .bind(1, int64_t(::getppid()))
      .bind(2, self.host)
      .bind(3, utc_now())
      .bind(4, utc_now())
      .run();
  EXPECT_TRUE(acquire_runner_lease(db, "/work/b", "s").has_value());
}

TEST(RunnerLease, RenewingALostLeaseIsAnError) {
  TempDir dir;
  Database db = Database::open(dir.file("db.sqlite"));
  acquire_runner_lease(db, "/work/a", "s");
  db.execute_script("UPDATE runner_leases SET pid = 42, host = 'elsewhere'");
  EXPECT_THROW(renew_runner_lease(db), Error);
}

}  // namespace
}  // namespace matquant::store
