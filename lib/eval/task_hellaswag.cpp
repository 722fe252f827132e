// HellaSwag (hellaswag/hellaswag.yaml + utils.py): the query is
// preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()) and each ending is
// preprocessed. Release hellaswag_val.jsonl and the Hugging Face export share field names (label is
// an int in one and a string in the other).
#include "eval/task_formats.h"

#include "eval/python_text.h"
#include "eval/task_file.h"

namespace matquant::eval {

namespace {

// re.sub("\\[.*?\\]", "", text): shortest bracketed runs, '.' not matching a newline.
std::string remove_bracketed(const std::string& text) {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t open = text.find('[', at);
    if (open == std::string::npos) break;
    const size_t close = text.find(']', open + 1);
    const size_t newline = text.find('\n', open + 1);
    if (close == std::string::npos) break;
    if (newline != std::string::npos && newline < close) {  // no match starting here
      out.append(text, at, open + 1 - at);
      at = open + 1;
      continue;
    }
    out.append(text, at, open - at);
    at = close + 1;
  }
  return out.append(text, at, std::string::npos);
}

}  // namespace

std::string hellaswag_preprocess(const std::string& text) {
  std::string out = python_strip(text);
  out = python_replace(out, " [title]", ". ");
  out = remove_bracketed(out);
  return python_replace(out, "  ", " ");
}

std::vector<TaskDocument> read_hellaswag_documents(const std::string& path) {
  std::vector<TaskDocument> documents;
  for (const auto& r : read_jsonl_records(path)) {
    const RecordReader record(path, r);
    TaskDocument doc;
    doc.line = r.line;
    const std::string ctx = record.text("ctx_a") + " " + python_capitalize(record.text("ctx_b"));
    const std::string query = hellaswag_preprocess(record.text("activity_label") + ": " + ctx);
    for (const auto& ending : record.text_list("endings")) doc.choices.push_back(hellaswag_preprocess(ending));
    if (doc.choices.empty()) record.fail("endings", "expected at least one ending");
    for (const auto& choice : doc.choices) doc.requests.emplace_back(query, " " + choice);
    doc.gold = record.integer("label");
    if (doc.gold < 0 || doc.gold >= int64_t(doc.choices.size())) record.fail("label", "out of range of endings");
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
