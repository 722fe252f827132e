#pragma once
// Starts one process per rank on this machine, the way torchrun does for a single node: the same
// program again with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in
// its environment (lib/distributed/launch_environment.h). Output is the children's own. When a
// rank fails, the others are stopped (they would otherwise wait in a collective forever).
#include <string>
#include <vector>

namespace matquant::distributed {

// argv: the program and its arguments for every rank. Returns 0 when every rank exits 0, else
// the first failing rank's exit code (9, kDistributed, for a rank killed by a signal). SIGINT and
// SIGTERM sent to the launcher are passed on to the ranks.
int launch_local_ranks(int ranks, const std::vector<std::string>& argv);

// A TCP port on 127.0.0.1 that nothing listens on now (for MASTER_PORT).
int free_local_port();

// This program's path (/proc/self/exe), for relaunching itself.
std::string own_executable();

// argv without `--name VALUE` / `--name=VALUE`.
std::vector<std::string> without_option(const std::vector<std::string>& argv, const std::string& name);

}  // namespace matquant::distributed
