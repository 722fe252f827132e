#pragma once
// One sweep runner per results database (docs/sweeps.md "One runner per database"): a runner
// holds the single row of runner_leases while it runs. Two runners with different work
// directories would otherwise both run every job. A lease left by a runner that was killed
// (SIGKILL, power loss) is stale and taken over: on the same host when its process is gone, from
// another host when its heartbeat is older than kLeaseStaleSeconds.
#include <optional>
#include <string>

namespace matquant::store {

class Database;

inline constexpr int kLeaseStaleSeconds = 60;

struct RunnerLeaseHolder {
  long pid = 0;
  std::string pid_start;  // the process's start time (/proc/PID/stat): a reused pid is not the holder
  std::string host;
  std::string work_dir;
  std::string sweep;
  std::string acquired_at;
  std::string heartbeat_at;
};

// The current holder, if any.
std::optional<RunnerLeaseHolder> runner_lease_holder(const Database& db);

// True when `holder` no longer runs: same host and its process is gone (or its pid now names a
// process started at another time), or its heartbeat is older than kLeaseStaleSeconds.
bool runner_lease_stale(const Database& db, const RunnerLeaseHolder& holder);

// Takes the lease for this process, in one write transaction. Throws kInvalidInput naming the
// holder while a live runner holds it. Returns the stale holder it replaced, if any.
std::optional<RunnerLeaseHolder> acquire_runner_lease(Database& db, const std::string& work_dir, const std::string& sweep);

// Refreshes this process's heartbeat; throws kInvalidInput if the lease is no longer ours.
void renew_runner_lease(Database& db);

// Gives the lease back (no-op if it is not ours).
void release_runner_lease(Database& db);

// This process as a lease holder would record it (pid, start time, host).
RunnerLeaseHolder this_process_as_holder();

}  // namespace matquant::store
