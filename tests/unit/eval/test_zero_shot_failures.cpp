// A task that cannot be scored fails alone, naming its documents; the tasks around it are scored
// and handed on as they finish. Task files can be given per task instead of the directory layout.
#include "common/error.h"
#include "eval/task_registry.h"
#include "eval/zero_shot.h"
#include "model/pretrained.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include <fstream>

namespace matquant::eval {
namespace {

namespace fs = boost::filesystem;
const std::string kFixtures = MATQUANT_FIXTURES_DIR;

// The release PIQA fixture with document 2's first solution made 60 words long.
std::string piqa_with_a_long_solution(const fs::path& dir) {
  fs::create_directories(dir);
  std::ifstream in(kFixtures + "/tasks/release/piqa/valid.jsonl");
  std::ofstream out((dir / "piqa.jsonl").string());
  std::string line;
  for (int i = 0; std::getline(in, line); ++i) {
    if (i == 2) {
      std::string words;
      for (int w = 0; w < 60; ++w) words += (w ? " water" : "water");
      line = R"({"goal": "Make tea without a kettle.", "sol1": ")" + words + R"(", "sol2": "Boil it."})";
    }
    out << line << "\n";
  }
  fs::copy_file(kFixtures + "/tasks/release/piqa/valid-labels.lst", dir / "piqa-labels.lst",
                fs::copy_option::overwrite_if_exists);
  return (dir / "piqa.jsonl").string();
}

TEST(TaskFiles, ParseTaskEqualsPathEntries) {
  const TaskFiles files = parse_task_files({"boolq=/data/boolq.jsonl", "piqa=a=b.jsonl"}, "--task-file");
  EXPECT_EQ(files.at("boolq"), "/data/boolq.jsonl");
  EXPECT_EQ(files.at("piqa"), "a=b.jsonl");  // the first '=' separates
  for (const std::string bad : {"boolq", "=x.jsonl", "boolq=", "mmlu=x.jsonl"}) {
    EXPECT_THROW(parse_task_files({bad}, "--task-file"), Error) << bad;
  }
  try {
    parse_task_files({"boolq=a.jsonl", "boolq=b.jsonl"}, "--task-file");
    FAIL() << "a task given twice must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--task-file: task 'boolq' is given more than one file"), std::string::npos);
  }
}

TEST(TaskFiles, AGivenFileReplacesTheDirectoryLayout) {
  const std::string boolq = kFixtures + "/tasks/release/boolq/dev.jsonl";
  const LoadedTask task = load_task("boolq", "", 0, {{"boolq", boolq}});
  EXPECT_EQ(task.path, boolq);
  EXPECT_EQ(task.documents.size(), 4u);
  try {
    load_task("boolq", kFixtures + "/tasks/release", 0, {{"boolq", "/nonexistent/boolq.jsonl"}});
    FAIL() << "a missing given file must not fall back to the directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/boolq.jsonl does not exist"), std::string::npos) << e.what();
  }
  try {
    load_task("piqa", "", 0, {{"boolq", boolq}});
    FAIL() << "piqa has neither a file nor a directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("piqa: no task file given and no task directory"), std::string::npos) << e.what();
  }
}

TEST(ZeroShotFailures, AnOverlongContinuationFailsItsTaskAndTheOthersAreStillScored) {
  const fs::path dir = fs::temp_directory_path() / fs::unique_path("matquant-overlong-%%%%%%");
  const std::string piqa = piqa_with_a_long_solution(dir);
  auto model = model::load_pretrained(kFixtures + "/lm_eval/models/llama");
  const auto tokenizer = model::Tokenizer::load_for_model(kFixtures + "/lm_eval/models/llama");
  ZeroShotOptions options;
  options.tasks = {"boolq", "piqa", "winogrande"};
  options.task_dir = kFixtures + "/tasks/release";
  options.task_files = {{"piqa", piqa}};
  options.engine.max_length = 64;
  std::vector<std::string> finished;
  options.on_task_done = [&](const LoadedTask& task, const std::vector<TaskMetric>& metrics) {
    finished.push_back(task.name);
    EXPECT_FALSE(metrics.empty());
  };
  const ZeroShotResult result = evaluate_zero_shot(model, tokenizer, options);
  EXPECT_EQ(finished, (std::vector<std::string>{"boolq", "winogrande"}));  // in order, piqa skipped
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_EQ(result.failures[0].task, "piqa");
  EXPECT_EQ(result.failures[0].code, ErrorCode::kInvalidInput);
  const std::string& message = result.failures[0].message;
  EXPECT_NE(message.find(piqa), std::string::npos) << message;
  EXPECT_NE(message.find("document 2 (line 3) choice 0"), std::string::npos) << message;
  EXPECT_NE(message.find("context of 64 tokens"), std::string::npos) << message;
  EXPECT_EQ(message.find("choice 1"), std::string::npos) << "only the long solution is too long: " << message;
  int boolq = 0, winogrande = 0, piqa_rows = 0;
  for (const auto& m : result.metrics) {
    boolq += m.task == "boolq";
    winogrande += m.task == "winogrande";
    piqa_rows += m.task == "piqa";
  }
  EXPECT_GT(boolq, 0);
  EXPECT_GT(winogrande, 0);
  EXPECT_EQ(piqa_rows, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace matquant::eval
