// BoolQ (super_glue/boolq/default.yaml): "{passage}\nQuestion: {question}?\nAnswer:" scored with
// " no" / " yes". Release dev.jsonl has answer (bool); the Hugging Face exports label (0/1).
#include "eval/task_formats.h"

#include "eval/task_file.h"

namespace matquant::eval {

std::vector<TaskDocument> read_boolq_documents(const std::string& path) {
  std::vector<TaskDocument> documents;
  for (const auto& r : read_jsonl_records(path)) {
    const RecordReader record(path, r);
    TaskDocument doc;
    doc.line = r.line;
    const std::string context = record.text("passage") + "\nQuestion: " + record.text("question") + "?\nAnswer:";
    doc.choices = {"no", "yes"};
    for (const auto& choice : doc.choices) doc.requests.emplace_back(context, " " + choice);
    doc.gold = record.has("label") ? record.integer("label") : record.integer("answer");
    if (doc.gold != 0 && doc.gold != 1) record.fail(record.has("label") ? "label" : "answer", "expected 0/1 or a bool");
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
