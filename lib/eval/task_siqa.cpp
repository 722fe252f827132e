// Social IQa (siqa/siqa.yaml): "Q: {context} {question}\nA:" scored with " answerA/B/C"; label is
// 1-based. The release dev.jsonl keeps labels in dev-labels.lst; the Hugging Face export has label.
#include "eval/task_formats.h"

#include "eval/task_file.h"

namespace matquant::eval {

std::vector<TaskDocument> read_siqa_documents(const std::string& path) {
  const auto records = read_jsonl_records(path);
  const bool inline_labels = !records.empty() && records.front().value.contains("label");
  const auto labels = inline_labels ? std::vector<std::string>{} : read_release_labels(path, records.size());
  std::vector<TaskDocument> documents;
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordReader record(path, records[i]);
    TaskDocument doc;
    doc.line = records[i].line;
    const std::string context = "Q: " + record.text("context") + " " + record.text("question") + "\nA:";
    doc.choices = {record.text("answerA"), record.text("answerB"), record.text("answerC")};
    for (const auto& choice : doc.choices) doc.requests.emplace_back(context, " " + choice);
    int64_t label = 0;
    if (inline_labels) {
      label = record.integer("label");
    } else if (labels[i].size() == 1 && labels[i][0] >= '1' && labels[i][0] <= '3') {
      label = labels[i][0] - '0';
    } else {
      record.fail("label", "labels file " + labels_path_for(path) + " has '" + labels[i] + "' (expected 1, 2 or 3)");
    }
    if (label < 1 || label > 3) record.fail("label", "expected 1, 2 or 3");
    doc.gold = label - 1;
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
