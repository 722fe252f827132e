#include "store/runner_lease.h"

#include "common/error.h"
#include "store/database.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

namespace matquant::store {
namespace {

// Field 22 of /proc/PID/stat (start time in clock ticks since boot); "" when unreadable.
std::string process_start_time(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return "";
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int n = 3; n <= 22 && fields >> field; ++n) {
    if (n == 22) return field;
  }
  return "";
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

bool is_this_process(const RunnerLeaseHolder& holder) {
  const RunnerLeaseHolder self = this_process_as_holder();
  return holder.pid == self.pid && holder.host == self.host && holder.pid_start == self.pid_start;
}

std::string describe(const RunnerLeaseHolder& holder) {
  return "pid " + std::to_string(holder.pid) + " on " + holder.host + ", work dir " + holder.work_dir +
         (holder.sweep.empty() ? "" : ", sweep '" + holder.sweep + "'") + ", since " + holder.acquired_at +
         ", last heartbeat " + holder.heartbeat_at;
}

}  // namespace

RunnerLeaseHolder this_process_as_holder() {
  RunnerLeaseHolder self;
  self.pid = long(::getpid());
  self.pid_start = process_start_time(self.pid);
  self.host = host_name();
  return self;
}

std::optional<RunnerLeaseHolder> runner_lease_holder(const Database& db) {
  Statement find = db.prepare(
      "SELECT pid, coalesce(pid_start, ''), host, work_dir, coalesce(sweep, ''), acquired_at, heartbeat_at "
      "FROM runner_leases WHERE id = 1");
  if (!find.step()) return std::nullopt;
  return RunnerLeaseHolder{long(find.column_int(0)), find.column_text(1), find.column_text(2), find.column_text(3),
                           find.column_text(4),      find.column_text(5), find.column_text(6)};
}

bool runner_lease_stale(const Database& db, const RunnerLeaseHolder& holder) {
  if (holder.host == host_name()) {
    // On this host the process table decides; a stopped (SIGSTOP) runner is still alive.
    const bool exists = holder.pid > 0 && (::kill(pid_t(holder.pid), 0) == 0 || errno == EPERM);
    return !exists || process_start_time(holder.pid) != holder.pid_start;
  }
  Statement age = db.prepare("SELECT strftime('%s', 'now') - strftime('%s', ?) > ?");
  age.bind(1, holder.heartbeat_at).bind(2, int64_t(kLeaseStaleSeconds));
  return !age.step() || age.column_int(0) != 0;
}

std::optional<RunnerLeaseHolder> acquire_runner_lease(Database& db, const std::string& work_dir,
                                                      const std::string& sweep) {
  std::optional<RunnerLeaseHolder> replaced;
  db.write_transaction([&] {
    if (const auto holder = runner_lease_holder(db)) {
      if (!is_this_process(*holder)) {
        if (!runner_lease_stale(db, *holder)) {
          throw Error(ErrorCode::kInvalidInput,
                      "another sweep runner is using " + db.path() + " (" + describe(*holder) +
                          "); two runners would run the same jobs twice: wait for it to end or stop it first");
        }
        replaced = holder;
      }
    }
    const RunnerLeaseHolder self = this_process_as_holder();
    const std::string now = utc_now();
    db.prepare("INSERT OR REPLACE INTO runner_leases (id, pid, pid_start, host, work_dir, sweep, acquired_at, heartbeat_at) "
               "VALUES (1, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, int64_t(self.pid))
        .bind(2, self.pid_start)
        .bind(3, self.host)
        .bind(4, work_dir)
        .bind(5, sweep)
        .bind(6, now)
        .bind(7, now)
        .run();
  });
  return replaced;
}

void renew_runner_lease(Database& db) {
  db.write_transaction([&] {
    const auto holder = runner_lease_holder(db);
    if (!holder || !is_this_process(*holder)) {
      throw Error(ErrorCode::kInvalidInput,
                  "this sweep runner lost its lease on " + db.path() +
                      (holder ? " to " + describe(*holder) : std::string(" (the lease row was removed)")) +
                      "; stopping so that two runners do not run the same jobs");
    }
    db.prepare("UPDATE runner_leases SET heartbeat_at = ? WHERE id = 1").bind(1, utc_now()).run();
  });
}

void release_runner_lease(Database& db) {
  db.write_transaction([&] {
    const auto holder = runner_lease_holder(db);
    if (holder && is_this_process(*holder)) db.prepare("DELETE FROM runner_leases WHERE id = 1").run();
  });
}

}  // namespace matquant::store
