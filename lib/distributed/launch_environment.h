#pragma once
// Where this process sits in a multi-process run, read from the environment in the convention
// torchrun uses (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), with Slurm's srun
// variables (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) as the fallback, so one binary runs under
// `matquant train --nproc`, torchrun-style launchers and srun alike.
#include <map>
#include <optional>
#include <string>

namespace matquant::distributed {

struct LaunchEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// nullopt when the process is not one rank of several (no WORLD_SIZE / SLURM_NTASKS, or 1).
// Malformed or inconsistent values are an invalid-input error naming the variable.
std::optional<LaunchEnvironment> launch_environment_from(const std::map<std::string, std::string>& env);
std::optional<LaunchEnvironment> launch_environment();  // from the process environment

// The variables a launcher sets for one rank.
std::map<std::string, std::string> launch_variables(const LaunchEnvironment& environment);

}  // namespace matquant::distributed
