#pragma once
// Starting `matquant worker JOB_DIR` as a child process pinned to one device, and watching it.
// Output goes to JOB_DIR/worker.log; the pid to JOB_DIR/worker.pid so a restarted runner can tell
// a worker that is still running from one that died with its runner.
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

namespace matquant::sweep {

struct WorkerExit {
  int exit_code = 0;       // meaningful when !signalled
  bool signalled = false;  // killed by a signal (segfault, OOM killer)
  int signal = 0;
};

// Forks and execs `binary worker job_dir` with `environment` added to ours.
pid_t start_worker(const std::string& binary, const std::string& job_dir,
                   const std::map<std::string, std::string>& environment);

// Non-blocking: the exit of a finished child, or nullopt while it runs.
std::optional<WorkerExit> poll_worker(pid_t pid);

// True when `pid` is a live `matquant worker` process for `job_dir` (a worker adopted after a
// runner restart is not our child, so it is watched through /proc).
bool worker_alive(pid_t pid, const std::string& job_dir);

// The last `lines` lines of a text file ("" when missing).
std::string file_tail(const std::string& path, size_t lines);

std::string describe(const WorkerExit& exit);

}  // namespace matquant::sweep
