// `matquant data check DIR`: validates every zero-shot task file under DIR (docs/data.md), and the
// files given per task with --task-file TASK=PATH (as `eval` takes them), and prints the document
// count per task and split. Exit 3 when a file present is malformed or empty; tasks whose files are
// absent are listed with the paths expected, and exit 4 when one of them was asked for with --tasks.
#include "command_registry.h"

#include "common/error.h"
#include "eval/task_directory_check.h"
#include "eval/task_registry.h"

#include <algorithm>

#include <fmt/format.h>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_data(const Args& args) {
  std::string action, directory;
  std::vector<std::string> wanted, file_entries;
  po::options_description options("options");
  options.add_options()
      ("action", po::value(&action)->required(), "check")
      ("dir", po::value(&directory), "task directory (docs/data.md)")
      ("task-file", po::value(&file_entries)->multitoken(), "TASK=PATH: a task's file given directly, as eval takes it")
      ("tasks", po::value(&wanted)->multitoken(),
       "only these tasks; any of them missing is an error (exit 4), as it would be for eval");
  po::positional_options_description positional;
  positional.add("action", 1).add("dir", 1);
  po::variables_map vm;
  if (!parse_command_line("data", "check [DIR] [--task-file TASK=PATH ...] [--tasks T ...]", options, positional, args, vm)) {
    return 0;
  }
  if (action != "check") throw_usage("data: unknown action '" + action + "' (known: check)");
  if (directory.empty() && file_entries.empty()) throw_usage("data check: give a task directory or --task-file TASK=PATH");
  for (const std::string& task : wanted) eval::find_task(task);  // an unknown name fails here, listing the known ones
  const eval::TaskFiles task_files = eval::parse_task_files(file_entries, "--task-file");
  // Without a directory only the files given are checked (unless --tasks asks for more).
  if (directory.empty() && wanted.empty()) {
    for (const auto& [task, path] : task_files) wanted.push_back(task);
  }
  const std::string where = directory.empty() ? "the files given" : directory;
  int found = 0;
  int malformed = 0;
  std::string missing_wanted;
  fmt::print("task\tsplit\tdocuments\tfile\n");
  for (const auto& status : eval::check_task_directory(directory, task_files)) {
    const bool asked = std::find(wanted.begin(), wanted.end(), status.task) != wanted.end();
    if (!wanted.empty() && !asked) continue;
    if (asked && !status.found) missing_wanted += (missing_wanted.empty() ? "" : ", ") + status.task;
    if (status.found && status.error.empty()) {
      fmt::print("{}\t{}\t{}\t{}\n", status.task, status.split, status.documents, status.path);
      ++found;
    } else if (status.found) {
      fmt::print("{}\t{}\tINVALID\t{}\n", status.task, status.split, status.error);
      ++malformed;
    } else {
      fmt::print("{}\t{}\tmissing\t{}\n", status.task, status.split, status.error);
    }
  }
  if (malformed > 0) throw Error(ErrorCode::kInvalidInput, fmt::format("{} task file(s) of {} are invalid", malformed, where));
  if (!missing_wanted.empty()) {
    throw Error(ErrorCode::kNotFound, "requested task(s) without a file in " + where + ": " + missing_wanted +
                                          " (see docs/data.md)");
  }
  if (found == 0) throw Error(ErrorCode::kNotFound, "no task files in " + where + " (see docs/data.md)");
  return 0;
}

const RegisterCommand kRegister{{"data", "check the zero-shot task files of a directory (data check DIR)", &run_data}};

}  // namespace
}  // namespace matquant::apps
