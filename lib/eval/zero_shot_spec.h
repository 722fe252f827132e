#pragma once
// The run spec's zero-shot settings (docs/contracts.md): eval.tasks, eval.task_dir, eval.task_files
// ("TASK=PATH" entries), eval.task_limit,
// eval.batch_size, eval.save_requests, eval.max_length (0 = max_position_embeddings capped at 2048).
#include "eval/zero_shot.h"

#include <nlohmann/json.hpp>

namespace matquant::eval {

ZeroShotOptions zero_shot_options_from_spec(const nlohmann::json& spec);

}  // namespace matquant::eval
