// WinoGrande (winogrande/default.yaml + preprocess_winogrande.py), partial scoring: option k fills
// the blank in the context sentence[:blank] + option_k, and the shared continuation is
// " " + sentence[blank + 1:].strip(). Release dev.jsonl and the Hugging Face export share fields.
#include "eval/task_formats.h"

#include "eval/python_text.h"
#include "eval/task_file.h"

namespace matquant::eval {

std::vector<TaskDocument> read_winogrande_documents(const std::string& path) {
  std::vector<TaskDocument> documents;
  for (const auto& r : read_jsonl_records(path)) {
    const RecordReader record(path, r);
    TaskDocument doc;
    doc.line = r.line;
    const std::string sentence = record.text("sentence");
    const size_t blank = sentence.find('_');
    if (blank == std::string::npos) record.fail("sentence", "has no blank '_'");
    const std::string continuation = " " + python_strip(sentence.substr(blank + 1));
    for (const auto& option : {record.text("option1"), record.text("option2")}) {
      doc.choices.push_back(sentence.substr(0, blank) + option);
      doc.requests.emplace_back(doc.choices.back(), continuation);
    }
    const int64_t answer = record.integer("answer");
    if (answer != 1 && answer != 2) record.fail("answer", "expected \"1\" or \"2\"");
    doc.gold = answer - 1;
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
