// Task files: the release and Hugging Face formats read to the same documents, prompts equal to the
// ones lm-evaluation-harness built (tests/fixtures/lm_eval/llama.json), and bad input reported with
// file, line and field.
#include "common/error.h"
#include "eval/task_formats.h"
#include "eval/task_registry.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace matquant::eval {
namespace {

const std::string kFixtures = MATQUANT_FIXTURES_DIR;
const std::string kRelease = kFixtures + "/tasks/release";
const std::string kHf = kFixtures + "/tasks/hf";

nlohmann::json lm_eval_fixture() {
  std::ifstream in(kFixtures + "/lm_eval/llama.json");
  return nlohmann::json::parse(in);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

using matquant::testing::TempDir;

TEST(TaskFormats, PromptsChoicesAndGoldMatchLmEval) {
  const auto fixture = lm_eval_fixture();
  for (const auto& name : known_task_names()) {
    SCOPED_TRACE(name);
    if (find_task(name).rolling) continue;  // wikitext: test_wikitext.cpp
    const LoadedTask task = load_task(name, kRelease);
    const auto& expected = fixture["tasks"][name];
    EXPECT_EQ(task.split, expected["split"].get<std::string>());
    ASSERT_EQ(task.documents.size(), expected["documents"].size());
    for (size_t d = 0; d < task.documents.size(); ++d) {
      const auto& doc = task.documents[d];
      const auto& want = expected["documents"][d];
      ASSERT_EQ(doc.requests.size(), want["requests"].size());
      for (size_t c = 0; c < doc.requests.size(); ++c) {
        EXPECT_EQ(doc.requests[c].first, want["requests"][c]["context"].get<std::string>());
        EXPECT_EQ(doc.requests[c].second, want["requests"][c]["continuation"].get<std::string>());
      }
      if (want["target"].is_number_integer()) EXPECT_EQ(doc.gold, want["target"].get<int64_t>());
    }
  }
}

TEST(TaskFormats, WinograndeGoldIsTheAnswerMinusOne) {
  const LoadedTask task = load_task("winogrande", kRelease);  // answers 2, 1, 1, 2 in the file
  ASSERT_EQ(task.documents.size(), 4u);
  EXPECT_EQ(task.documents[0].gold, 1);
  EXPECT_EQ(task.documents[1].gold, 0);
  EXPECT_EQ(task.documents[2].gold, 0);
  EXPECT_EQ(task.documents[3].gold, 1);
}

TEST(TaskFormats, HuggingFaceExportsReadToTheSameDocuments) {
  for (const auto& name : known_task_names()) {
    SCOPED_TRACE(name);
    const LoadedTask release = load_task(name, kRelease);
    const LoadedTask hf = load_task(name, kHf);
    EXPECT_NE(release.path, hf.path);
    ASSERT_EQ(release.documents.size(), hf.documents.size());
    for (size_t d = 0; d < release.documents.size(); ++d) {
      EXPECT_EQ(release.documents[d].requests, hf.documents[d].requests);
      EXPECT_EQ(release.documents[d].choices, hf.documents[d].choices);
      EXPECT_EQ(release.documents[d].gold, hf.documents[d].gold);
      EXPECT_EQ(release.documents[d].rolling_target, hf.documents[d].rolling_target);
      EXPECT_EQ(release.documents[d].words, hf.documents[d].words);
      EXPECT_EQ(release.documents[d].bytes, hf.documents[d].bytes);
    }
  }
}

TEST(TaskFormats, LimitKeepsTheFirstDocuments) {
  const LoadedTask task = load_task("piqa", kRelease, 2);
  ASSERT_EQ(task.documents.size(), 2u);
  EXPECT_EQ(task.documents[1].requests[0].first, "Question: To cross a river quickly,\nAnswer:");
}

TEST(TaskFormats, HellaswagPreprocessAsLmEval) {
  EXPECT_EQ(hellaswag_preprocess("  How to x [title] Do it [step] now  "), "How to x. Do it now");
  EXPECT_EQ(hellaswag_preprocess("[header] a [b\nc] d"), " a [b\nc] d");  // '.' does not match a newline
}

TEST(TaskErrors, MalformedLineNamesFileLineAndField) {
  TempDir dir;
  dir.write("boolq/dev.jsonl",
            "{\"question\": \"q\", \"passage\": \"p\", \"answer\": true}\n{\"question\": \"q\", \"answer\": false}\n");
  const std::string message = error_of([&] { load_task("boolq", dir.str()); });
  EXPECT_NE(message.find("boolq/dev.jsonl:2: passage: missing"), std::string::npos) << message;

  dir.write("piqa/valid.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\nnot json\n");
  const std::string bad_json = error_of([&] { load_task("piqa", dir.str()); });
  EXPECT_NE(bad_json.find("piqa/valid.jsonl:2"), std::string::npos) << bad_json;

  dir.write("arc/ARC-Easy-Test.jsonl",
            "{\"id\": \"x\", \"question\": {\"stem\": \"s\", \"choices\": [{\"text\": \"a\", \"label\": \"A\"}]}, "
            "\"answerKey\": \"E\"}\n");
  const std::string bad_key = error_of([&] { load_task("arc_easy", dir.str()); });
  EXPECT_NE(bad_key.find("ARC-Easy-Test.jsonl:1: answerKey"), std::string::npos) << bad_key;
}

TEST(TaskErrors, MissingFilesNameTheExpectedPaths) {
  TempDir dir;
  const std::string message = error_of([&] { load_task("hellaswag", dir.str()); });
  EXPECT_NE(message.find(dir.str() + "/hellaswag/hellaswag_val.jsonl"), std::string::npos) << message;

  dir.write("siqa/dev.jsonl", "{\"context\": \"c\", \"question\": \"q\", \"answerA\": \"a\", \"answerB\": \"b\", \"answerC\": \"c\"}\n");
  const std::string labels = error_of([&] { load_task("siqa", dir.str()); });
  EXPECT_NE(labels.find("siqa/dev-labels.lst"), std::string::npos) << labels;
  dir.write("siqa/dev-labels.lst", "1\n2\n");
  const std::string count = error_of([&] { load_task("siqa", dir.str()); });
  EXPECT_NE(count.find("2 labels for 1 records"), std::string::npos) << count;
}

TEST(TaskErrors, UnknownTaskListsTheKnownOnes) {
  const std::string message = error_of([] { find_task("mmlu"); });
  EXPECT_NE(message.find("unknown task 'mmlu'"), std::string::npos);
  for (const auto& name : {"arc_challenge", "arc_easy", "boolq", "hellaswag", "piqa", "winogrande", "openbookqa", "siqa"}) {
    EXPECT_NE(message.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace matquant::eval
