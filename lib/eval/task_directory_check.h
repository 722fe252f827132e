#pragma once
// `matquant data check DIR`: every known task's file under DIR located and read in full, with its
// document count and split, or the error that reading it gave.
#include "eval/task_registry.h"

#include <cstdint>
#include <string>
#include <vector>

namespace matquant::eval {

struct TaskFileStatus {
  std::string task;
  std::string split;
  std::string path;         // empty when not found
  int64_t documents = 0;
  bool found = false;
  std::string error;        // a malformed file's message; empty when it read cleanly
};

// Tasks with an entry in `task_files` are checked at that path instead.
std::vector<TaskFileStatus> check_task_directory(const std::string& task_dir, const TaskFiles& task_files = {});

}  // namespace matquant::eval
