// Run-spec fields of the zero-shot evaluation and its all-or-nothing loading.
#include "common/error.h"
#include "eval/zero_shot_spec.h"
#include "model/pretrained.h"

#include <gtest/gtest.h>

namespace matquant::eval {

TEST(ZeroShotSpec, ReadsEvalFieldsWithDefaults) {
  const auto options = zero_shot_options_from_spec(nlohmann::json::parse(
      R"({"eval": {"tasks": ["piqa", "boolq"], "task_dir": "/data/tasks", "task_limit": 100}})"));
  EXPECT_EQ(options.tasks, (std::vector<std::string>{"piqa", "boolq"}));
  EXPECT_EQ(options.task_dir, "/data/tasks");
  EXPECT_EQ(options.limit, 100);
  EXPECT_EQ(options.engine.batch_size, 16);
  EXPECT_EQ(options.engine.max_length, 0);
  EXPECT_EQ(zero_shot_options_from_spec(nlohmann::json::parse(R"({"eval": {"max_length": 4096}})")).engine.max_length, 4096);
  EXPECT_THROW(zero_shot_options_from_spec(nlohmann::json::parse(R"({"eval": {"max_length": -1}})")), Error);
  EXPECT_TRUE(zero_shot_options_from_spec(nlohmann::json::parse("{}")).tasks.empty());
  EXPECT_THROW(zero_shot_options_from_spec(nlohmann::json::parse(R"({"eval": {"batch_size": 0}})")), Error);
  EXPECT_THROW(zero_shot_options_from_spec(nlohmann::json::parse(R"({"eval": {"tasks": "piqa"}})")), Error);
}

TEST(ZeroShotSpec, ATaskThatFailsToLoadFailsBeforeAnythingIsScored) {
  const std::string fixtures = MATQUANT_FIXTURES_DIR;
  auto model = model::load_pretrained(fixtures + "/lm_eval/models/llama");
  const auto tokenizer = model::Tokenizer::load_for_model(fixtures + "/lm_eval/models/llama");
  ZeroShotOptions options;
  options.tasks = {"piqa", "mmlu"};
  options.task_dir = fixtures + "/tasks/release";
  bool logged = false;
  options.log = [&](const std::string&) { logged = true; };
  EXPECT_THROW(evaluate_zero_shot(model, tokenizer, options), Error);
  EXPECT_FALSE(logged);  // piqa was not scored
}

}  // namespace matquant::eval
