#pragma once
// Starts one process per rank on this machine, the way torchrun does for a single node: the same
// program again with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in
// its environment (lib/distributed/launch_environment.h). Output is the children's own. When a
// rank fails, the others are stopped (they would otherwise wait in a collective forever).
#include "distributed/launch_environment.h"

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace matquant::distributed {

// argv: the program and its arguments for every rank. Returns 0 when every rank exits 0, else
// the first failing rank's exit code (9, kDistributed, for a rank killed by a signal). SIGINT and
// SIGTERM sent to the launcher are passed on to the ranks.
int launch_local_ranks(int ranks, const std::vector<std::string>& argv);

// This process as rank 0 of `ranks`, with ranks 1.. as children running `argv` (the same job in
// another process: a sweep worker's multi-GPU training). The children die with this process
// (PR_SET_PDEATHSIG); a child that fails ends this process too (exit 9 after one line), since
// rank 0 would otherwise wait for it in a collective forever.
class HelperRanks {
 public:
  HelperRanks(int ranks, const std::vector<std::string>& argv);
  ~HelperRanks();  // stops children still running
  HelperRanks(const HelperRanks&) = delete;
  HelperRanks& operator=(const HelperRanks&) = delete;

  const LaunchEnvironment& rank_zero() const { return rank_zero_; }
  // Waits for every child to exit 0; a failure is an Error(kDistributed) naming the rank.
  void wait();

 private:
  void reap_or_exit();

  LaunchEnvironment rank_zero_;
  std::mutex mutex_;              // guards children_ between the watcher and wait()
  std::vector<pid_t> children_;  // -1 once reaped
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

// A TCP port on 127.0.0.1 that nothing listens on now (for MASTER_PORT).
int free_local_port();

// This program's path (/proc/self/exe), for relaunching itself.
std::string own_executable();

// argv without `--name VALUE` / `--name=VALUE`.
std::vector<std::string> without_option(const std::vector<std::string>& argv, const std::string& name);

}  // namespace matquant::distributed
