#include "eval/task_directory_check.h"

#include "common/error.h"
#include "eval/task_registry.h"

namespace matquant::eval {

std::vector<TaskFileStatus> check_task_directory(const std::string& task_dir, const TaskFiles& task_files) {
  std::vector<TaskFileStatus> statuses;
  for (const auto& definition : task_definitions()) {
    TaskFileStatus status;
    status.task = definition.name;
    status.split = definition.split;
    try {
      status.path = locate_task_file(definition, task_dir, task_files);
      status.found = true;
      status.documents = int64_t(definition.read(status.path).size());
      // `eval` refuses an empty task file (load_task), so the check does too.
      if (status.documents == 0) status.error = status.path + ": no documents";
    } catch (const Error& e) {
      status.error = e.what();  // found: what is wrong in it; not found: the expected paths
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

}  // namespace matquant::eval
