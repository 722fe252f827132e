#pragma once
// What a run reads, checked at `sweep plan` (and before `sweep run` starts anything) rather than
// found missing by a worker: the model directory, the data files and the task directory. Relative
// paths are relative to the current directory, which the workers inherit.
#include <string>

namespace matquant::sweep {

// The spec fields naming an input that must exist (eval.task_files, a list, is checked per entry).
inline constexpr const char* kInputFields[] = {"model", "data.train", "data.validation", "eval.task_dir"};

// "" when the input `value` of spec field `key` is there (or is not a path: builtin:NAME,
// synthetic, an empty task directory); else what is wrong, e.g. "models/x has no config.json".
// For eval.task_files `value` is one "TASK=PATH" entry.
std::string missing_input(const std::string& key, const std::string& value);

}  // namespace matquant::sweep
