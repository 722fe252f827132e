#include "eval/task_registry.h"

#include "common/error.h"
#include "eval/task_formats.h"
#include "eval/wikitext.h"

#include <boost/filesystem.hpp>

namespace matquant::eval {

namespace {

std::vector<std::string> with_hf_exports(std::vector<std::string> release, const std::string& name,
                                         const std::string& split) {
  release.push_back(name + "/" + split + ".jsonl");
  release.push_back(name + "/" + split + ".json");
  return release;
}

}  // namespace

const std::vector<TaskDefinition>& task_definitions() {
  static const std::vector<TaskDefinition> tasks = {
      {"arc_challenge", "arc_challenge", "test", true,
       with_hf_exports({"arc/ARC-Challenge-Test.jsonl", "ARC-Challenge/ARC-Challenge-Test.jsonl"}, "arc_challenge", "test"),
       &read_arc_documents},
      {"arc_easy", "arc_easy", "test", true,
       with_hf_exports({"arc/ARC-Easy-Test.jsonl", "ARC-Easy/ARC-Easy-Test.jsonl"}, "arc_easy", "test"),
       &read_arc_documents},
      {"boolq", "boolq", "validation", false, with_hf_exports({"boolq/dev.jsonl"}, "boolq", "validation"),
       &read_boolq_documents},
      {"hellaswag", "hellaswag", "validation", true,
       with_hf_exports({"hellaswag/hellaswag_val.jsonl"}, "hellaswag", "validation"), &read_hellaswag_documents},
      {"piqa", "piqa", "validation", true, with_hf_exports({"piqa/valid.jsonl"}, "piqa", "validation"),
       &read_piqa_documents},
      {"winogrande", "winogrande", "validation", false,
       with_hf_exports({"winogrande/dev.jsonl"}, "winogrande", "validation"), &read_winogrande_documents},
      {"openbookqa", "openbookqa", "test", true, with_hf_exports({}, "openbookqa", "test"),
       &read_openbookqa_documents},
      {"siqa", "social_iqa", "validation", false, with_hf_exports({"siqa/dev.jsonl"}, "siqa", "validation"),
       &read_siqa_documents},
      // WikiText-2 raw (wikitext-2-raw-v1.zip unpacks to wikitext-2-raw/), or the export of
      // EleutherAI/wikitext_document_level (wikitext-2-raw-v1, field `page`).
      {"wikitext", "wikitext", "test", false,
       with_hf_exports({"wikitext/wiki.test.raw", "wikitext-2-raw/wiki.test.raw"}, "wikitext", "test"),
       &read_wikitext_documents, true},
  };
  return tasks;
}

std::vector<std::string> known_task_names() {
  std::vector<std::string> names;
  for (const auto& t : task_definitions()) names.push_back(t.name);
  return names;
}

const TaskDefinition& find_task(const std::string& name) {
  for (const auto& t : task_definitions()) {
    if (t.name == name) return t;
  }
  std::string known;
  for (const auto& n : known_task_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidInput, "unknown task '" + name + "'; known tasks: " + known);
}

TaskFiles parse_task_files(const std::vector<std::string>& entries, const std::string& origin) {
  TaskFiles files;
  for (const auto& entry : entries) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == entry.size()) {
      throw Error(ErrorCode::kInvalidInput, origin + ": '" + entry + "' is not TASK=PATH");
    }
    const std::string task = entry.substr(0, equals);
    find_task(task);  // unknown names fail listing the known ones
    if (!files.emplace(task, entry.substr(equals + 1)).second) {
      throw Error(ErrorCode::kInvalidInput, origin + ": task '" + task + "' is given more than one file");
    }
  }
  return files;
}

std::string locate_task_file(const TaskDefinition& task, const std::string& task_dir, const TaskFiles& task_files) {
  namespace fs = boost::filesystem;
  const auto given = task_files.find(task.name);
  if (given != task_files.end()) {
    if (fs::is_regular_file(given->second)) return given->second;
    throw Error(ErrorCode::kNotFound, task.name + ": task file " + given->second +
                                          (fs::is_directory(given->second) ? " is a directory" : " does not exist"));
  }
  if (task_dir.empty()) {
    throw Error(ErrorCode::kInvalidInput, task.name + ": no task file given and no task directory (--task-file " +
                                              task.name + "=PATH or --task-dir DIR; eval.task_files / eval.task_dir)");
  }
  std::string expected;
  for (const auto& relative : task.files) {
    const fs::path path = fs::path(task_dir) / relative;
    if (fs::is_regular_file(path)) return path.string();
    expected += (expected.empty() ? "" : " or ") + path.string();
  }
  throw Error(ErrorCode::kNotFound, task.name + ": task file not found; expected " + expected + " (see docs/data.md)");
}

LoadedTask load_task(const std::string& name, const std::string& task_dir, int64_t limit, const TaskFiles& task_files) {
  const TaskDefinition& definition = find_task(name);
  LoadedTask task;
  task.name = definition.name;
  task.split = definition.split;
  task.has_acc_norm = definition.has_acc_norm;
  task.rolling = definition.rolling;
  task.path = locate_task_file(definition, task_dir, task_files);
  task.documents = definition.read(task.path);
  if (task.documents.empty()) throw Error(ErrorCode::kInvalidInput, task.path + ": no documents");
  if (limit > 0 && int64_t(task.documents.size()) > limit) task.documents.resize(size_t(limit));
  return task;
}

}  // namespace matquant::eval
