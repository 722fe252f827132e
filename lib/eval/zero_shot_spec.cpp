#include "eval/zero_shot_spec.h"

#include "common/error.h"

namespace matquant::eval {

ZeroShotOptions zero_shot_options_from_spec(const nlohmann::json& spec) {
  ZeroShotOptions options;
  if (!spec.contains("eval") || !spec["eval"].is_object()) return options;
  const auto& eval = spec["eval"];
  try {
    if (eval.contains("tasks") && !eval["tasks"].is_null()) options.tasks = eval["tasks"].get<std::vector<std::string>>();
    options.task_dir = eval.value("task_dir", std::string());
    if (eval.contains("task_files") && !eval["task_files"].is_null()) {
      options.task_files = parse_task_files(eval["task_files"].get<std::vector<std::string>>(), "run spec: eval.task_files");
    }
    options.limit = eval.value("task_limit", int64_t{0});
    options.engine.batch_size = eval.value("batch_size", int64_t{16});
    options.engine.max_length = eval.value("max_length", int64_t{0});
    options.save_requests_path = eval.value("save_requests", std::string());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidInput, std::string("run spec: eval: ") + e.what());
  }
  if (options.limit < 0) throw Error(ErrorCode::kInvalidInput, "run spec: eval.task_limit: must be >= 0");
  if (options.engine.max_length < 0) throw Error(ErrorCode::kInvalidInput, "run spec: eval.max_length: must be >= 0");
  if (options.engine.batch_size < 1) throw Error(ErrorCode::kInvalidInput, "run spec: eval.batch_size: must be >= 1");
  return options;
}

}  // namespace matquant::eval
