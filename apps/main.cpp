// The matquant binary: dispatches to the subcommands registered under apps/.
#include "command_registry.h"

#include "common/error.h"
#include "common/failure.h"
#include "common/runtime_info.h"
#include "matquant/build_info.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace {

void print_help() {
  std::cout << "matquant: Matryoshka Quantization experiment suite\n\n"
               "usage: matquant <command> [options]   (matquant <command> --help for details)\n"
               "       matquant --version | --help\n\n"
               "commands:\n";
  auto commands = matquant::apps::command_registry();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& command : commands) {
    std::printf("  %-12s %s\n", command.name.c_str(), command.summary.c_str());
  }
  std::cout << "\nexit codes: 0 ok, 2 usage, 3 invalid input, 4 not found, 5 I/O, 6 diverged, "
               "8 out of memory, 9 distributed, 70 internal error\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version") {
    std::cout << "matquant " << matquant::kVersion << " (" << matquant::kGitSha << ")\n"
              << matquant::describe(matquant::runtime_info()) << "\n";
    return 0;
  }
  matquant::install_terminate_handler("matquant");  // for exceptions no handler below can catch
  try {
    matquant::use_all_cores();
    for (const auto& command : matquant::apps::command_registry()) {
      if (command.name == words[0]) {
        return command.run(std::vector<std::string>(words.begin() + 1, words.end()));
      }
    }
    throw matquant::Error(matquant::ErrorCode::kUsage,
                          "unknown command '" + words[0] + "' (see 'matquant --help')");
  } catch (...) {
    // One line and a documented code for anything, LibTorch's errors included (common/failure.h).
    const matquant::Failure failure = matquant::describe_failure(std::current_exception());
    const bool internal = failure.code == matquant::ErrorCode::kInternal;
    std::cerr << "matquant: " << (internal ? "internal error: " : "error: ") << failure.message << "\n";
    return failure.exit_code();
  }
}
