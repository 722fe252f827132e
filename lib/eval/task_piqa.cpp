// PIQA (piqa/piqa.yaml): "Question: {goal}\nAnswer:" scored with " sol1" / " sol2". The release
// valid.jsonl has no labels (they are in valid-labels.lst); the Hugging Face export has label.
#include "eval/task_formats.h"

#include "eval/task_file.h"

namespace matquant::eval {

std::vector<TaskDocument> read_piqa_documents(const std::string& path) {
  const auto records = read_jsonl_records(path);
  const bool inline_labels = !records.empty() && records.front().value.contains("label");
  const auto labels = inline_labels ? std::vector<std::string>{} : read_release_labels(path, records.size());
  std::vector<TaskDocument> documents;
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordReader record(path, records[i]);
    TaskDocument doc;
    doc.line = records[i].line;
    const std::string context = "Question: " + record.text("goal") + "\nAnswer:";
    doc.choices = {record.text("sol1"), record.text("sol2")};
    for (const auto& choice : doc.choices) doc.requests.emplace_back(context, " " + choice);
    if (inline_labels) {
      doc.gold = record.integer("label");
    } else if (labels[i] == "0" || labels[i] == "1") {
      doc.gold = labels[i] == "1";
    } else {
      record.fail("label", "labels file " + labels_path_for(path) + " has '" + labels[i] + "' (expected 0 or 1)");
    }
    if (doc.gold != 0 && doc.gold != 1) record.fail("label", "expected 0 or 1");
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
