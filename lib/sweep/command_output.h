#pragma once
// Running a short external command (sbatch, squeue, scontrol, scancel) and keeping what it printed.
#include <string>
#include <vector>

namespace matquant::sweep {

struct CommandOutput {
  int exit_code = 0;       // 127: the program could not be started (not installed, not on PATH)
  std::string out;         // stdout
  std::string err;         // stderr
  bool started() const { return exit_code != 127; }
};

// argv[0] is looked up on PATH. Waits for the command; stdin is /dev/null.
CommandOutput run_command(const std::vector<std::string>& argv);

// "a b 'c d'": argv as a shell would need it quoted, for messages and printed plans.
std::string shell_quoted(const std::vector<std::string>& argv);

}  // namespace matquant::sweep
