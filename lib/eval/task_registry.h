#pragma once
// The zero-shot tasks matquant knows: our name, lm-evaluation-harness' name, the split it scores,
// where the files go under a task directory (docs/data.md) and which reader formats them.
#include "eval/task_document.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace matquant::eval {

struct TaskDefinition {
  std::string name;          // ours, e.g. siqa
  std::string lm_eval_name;  // e.g. social_iqa
  std::string split;         // test or validation, as lm-eval scores it
  bool has_acc_norm = true;  // lm-eval's metric_list has acc_norm
  // Relative to the task directory, first existing wins: the release file, then the Hugging Face
  // export (<task>/<split>.jsonl or .json).
  std::vector<std::string> files;
  std::vector<TaskDocument> (*read)(const std::string& path) = nullptr;
  bool rolling = false;  // output_type loglikelihood_rolling: perplexity metrics (eval/rolling_perplexity.h)
};

const std::vector<TaskDefinition>& task_definitions();
std::vector<std::string> known_task_names();
// Unknown names are ErrorCode::kInvalidInput listing the known ones.
const TaskDefinition& find_task(const std::string& name);

// Files given per task (eval.task_files / --task-file TASK=PATH), used instead of the directory
// layout for those tasks.
using TaskFiles = std::map<std::string, std::string>;

// "TASK=PATH" entries into TaskFiles; a malformed entry, an unknown task or a task named twice is
// ErrorCode::kInvalidInput naming `origin` (e.g. "--task-file").
TaskFiles parse_task_files(const std::vector<std::string>& entries, const std::string& origin);

// The task's file: its entry in `task_files` when there is one (which must exist), else the first
// existing file under `task_dir`; none is ErrorCode::kNotFound naming the expected paths.
std::string locate_task_file(const TaskDefinition& task, const std::string& task_dir, const TaskFiles& task_files = {});

// Reads a task; limit > 0 keeps the first `limit` documents (lm-eval's --limit).
LoadedTask load_task(const std::string& name, const std::string& task_dir, int64_t limit = 0,
                     const TaskFiles& task_files = {});

}  // namespace matquant::eval
