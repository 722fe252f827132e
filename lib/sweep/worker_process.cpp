#include "sweep/worker_process.h"

#include "common/error.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <vector>

namespace matquant::sweep {

pid_t start_worker(const std::string& binary, const std::string& job_dir,
                   const std::map<std::string, std::string>& environment) {
  const std::string log_path = job_dir + "/worker.log";
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::kIo, std::string("cannot start a worker: fork failed: ") + strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe work until exec.
    const int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    for (const auto& [name, value] : environment) ::setenv(name.c_str(), value.c_str(), 1);
    ::execl(binary.c_str(), binary.c_str(), "worker", job_dir.c_str(), static_cast<char*>(nullptr));
    const char message[] = "[runner] exec of the worker binary failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, message, sizeof(message) - 1);
    (void)ignored;
    ::_exit(127);
  }
  std::ofstream(job_dir + "/worker.pid") << pid << "\n";
  return pid;
}

std::optional<WorkerExit> poll_worker(pid_t pid) {
  int status = 0;
  const pid_t done = ::waitpid(pid, &status, WNOHANG);
  if (done == 0) return std::nullopt;
  WorkerExit exit;
  if (done < 0) {  // not our child any more (should not happen): treat as lost
    exit.exit_code = 70;
    return exit;
  }
  if (WIFSIGNALED(status)) {
    exit.signalled = true;
    exit.signal = WTERMSIG(status);
  } else {
    exit.exit_code = WEXITSTATUS(status);
  }
  return exit;
}

bool worker_alive(pid_t pid, const std::string& job_dir) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  // A zombie (exited, unreaped) has an empty cmdline: not alive.
  return text.find("worker") != std::string::npos && text.find(job_dir) != std::string::npos;
}

std::string file_tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += (out.empty() ? "" : "\n") + l;
  return out;
}

std::string describe(const WorkerExit& exit) {
  if (exit.signalled) return std::string("killed by signal ") + std::to_string(exit.signal) + " (" + strsignal(exit.signal) + ")";
  return "exit code " + std::to_string(exit.exit_code);
}

}  // namespace matquant::sweep
