#include "distributed/local_launcher.h"

#include "common/error.h"
#include "distributed/launch_environment.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace matquant::distributed {

namespace {

volatile sig_atomic_t forwarded_signal = 0;

void remember_signal(int signal_number) { forwarded_signal = signal_number; }

}  // namespace

// The kernel's choice for port 0; rank 0's store binds it next.
int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(ErrorCode::kDistributed, "cannot open a socket to pick MASTER_PORT");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw Error(ErrorCode::kDistributed, "cannot pick a free MASTER_PORT");
  return ntohs(address.sin_port);
}

namespace {

// A rank's own exit code; a rank killed by a signal is the run's failure, kDistributed.
int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : int(ErrorCode::kDistributed);
}

// Forks and execs one rank of `argv` with its launch variables. With die_with_parent, the child is
// killed when this process exits (PR_SET_PDEATHSIG), and exits at once if it already has.
pid_t start_rank(const LaunchEnvironment& environment, const std::vector<std::string>& argv, bool die_with_parent) {
  const auto variables = launch_variables(environment);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::kDistributed, "cannot start rank " + std::to_string(environment.rank));
  if (pid > 0) return pid;
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(int(ErrorCode::kDistributed));
  }
  for (const auto& [name, value] : variables) ::setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::cerr << "matquant: error: cannot run " << argv[0] << " for rank " << environment.rank << "\n";
  ::_exit(127);
}

}  // namespace

std::string own_executable() {
  char buffer[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) throw Error(ErrorCode::kInternal, "cannot read /proc/self/exe");
  return std::string(buffer, size_t(n));
}

std::vector<std::string> without_option(const std::vector<std::string>& argv, const std::string& name) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == name) {
      ++i;  // and its value
      continue;
    }
    if (argv[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

int launch_local_ranks(int ranks, const std::vector<std::string>& argv) {
  if (ranks < 1) throw_usage("--nproc must be at least 1");
  if (argv.empty()) throw Error(ErrorCode::kInternal, "launching ranks of an empty command");
  LaunchEnvironment environment;
  environment.world_size = ranks;
  environment.master_addr = "127.0.0.1";
  environment.master_port = free_local_port();
  std::vector<pid_t> children;
  for (int rank = 0; rank < ranks; ++rank) {
    environment.rank = rank;
    environment.local_rank = rank;
    children.push_back(start_rank(environment, argv, false));
  }
  struct sigaction action {};
  action.sa_handler = remember_signal;
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);
  int result = 0;
  size_t running = children.size();
  bool stopping = false;
  auto stop_all = [&](int signal_number) {
    for (const pid_t pid : children) {
      if (pid > 0) ::kill(pid, signal_number);
    }
  };
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    if (forwarded_signal != 0 && !stopping) {
      stop_all(forwarded_signal);
      stopping = true;
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    }
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) stop_all(SIGKILL);
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    for (size_t rank = 0; rank < children.size(); ++rank) {
      if (children[rank] != done) continue;
      children[rank] = -1;
      --running;
      const int code = exit_code_of(status);
      if (code != 0 && result == 0) {
        result = code;
        if (WIFSIGNALED(status)) {
          std::cerr << "matquant: error: rank " << rank << " was killed by signal " << WTERMSIG(status) << "\n";
        }
        if (running > 0) {
          std::cerr << "matquant: rank " << rank << " exited with code " << code << "; stopping the other ranks\n";
          stop_all(SIGTERM);
          stopping = true;
          stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        }
      }
    }
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

HelperRanks::HelperRanks(int ranks, const std::vector<std::string>& argv) {
  if (ranks < 2) throw Error(ErrorCode::kInternal, "helper ranks for fewer than two processes");
  rank_zero_.world_size = ranks;
  rank_zero_.master_port = free_local_port();
  for (int rank = 1; rank < ranks; ++rank) {
    LaunchEnvironment environment = rank_zero_;
    environment.rank = rank;
    environment.local_rank = rank;
    children_.push_back(start_rank(environment, argv, true));
  }
  // This thread reaps the children (wait() watches it do so) and ends the process on a failure.
  watcher_ = std::thread([this] {
    while (!done_) {
      reap_or_exit();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
}

void HelperRanks::reap_or_exit() {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < children_.size(); ++i) {
    if (children_[i] <= 0) continue;
    int status = 0;
    if (::waitpid(children_[i], &status, WNOHANG) != children_[i]) continue;
    children_[i] = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    std::cerr << "matquant: error: rank " << i + 1 << " of " << children_.size() + 1 << " failed ("
              << (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                    : "signal " + std::to_string(WTERMSIG(status)))
              << "); stopping" << std::endl;
    for (const pid_t other : children_) {
      if (other > 0) ::kill(other, SIGKILL);
    }
    std::_Exit(int(ErrorCode::kDistributed));
  }
}

void HelperRanks::wait() {
  // The watcher exits the process on a failure; when every child has exited 0 it only reaped.
  while (true) {
    bool running = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (const pid_t pid : children_) running = running || pid > 0;
    }
    if (!running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

HelperRanks::~HelperRanks() {
  done_ = true;
  if (watcher_.joinable()) watcher_.join();
  for (const pid_t pid : children_) {
    if (pid <= 0) continue;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

}  // namespace matquant::distributed
