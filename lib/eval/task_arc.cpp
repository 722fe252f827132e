// ARC and OpenBookQA: the same release schema (question.stem, question.choices[{text, label}],
// answerKey); the Hugging Face exports flatten it (question or question_stem, choices{text, label}).
#include "eval/task_formats.h"

#include "eval/python_text.h"
#include "eval/task_file.h"

#include <algorithm>

namespace matquant::eval {

namespace {

struct QuestionRecord {
  std::string stem;
  std::vector<std::string> texts, labels;
  std::string answer_key;
};

QuestionRecord read_question(const RecordReader& record, const std::string& hf_stem_field) {
  QuestionRecord q;
  if (record.has("question") && record.field("question").is_object()) {  // release format
    q.stem = record.text("question.stem");
    const auto& choices = record.field("question.choices");
    if (!choices.is_array() || choices.empty()) record.fail("question.choices", "expected a non-empty list");
    for (const auto& c : choices) {
      if (!c.is_object() || !c.contains("text") || !c.contains("label") || !c["text"].is_string() ||
          !c["label"].is_string()) {
        record.fail("question.choices", "each choice needs string fields text and label, got " + c.dump());
      }
      q.texts.push_back(c["text"].get<std::string>());
      q.labels.push_back(c["label"].get<std::string>());
    }
  } else {  // Hugging Face export
    q.stem = record.text(hf_stem_field);
    q.texts = record.text_list("choices.text");
    q.labels = record.text_list("choices.label");
    if (q.texts.size() != q.labels.size() || q.texts.empty()) {
      record.fail("choices", "choices.text and choices.label must be non-empty lists of equal length");
    }
  }
  q.answer_key = record.text("answerKey");
  return q;
}

int64_t gold_index(const RecordReader& record, const QuestionRecord& q, const std::string& key) {
  const auto found = std::find(q.labels.begin(), q.labels.end(), key);
  if (found == q.labels.end()) record.fail("answerKey", "'" + key + "' is not one of the choice labels");
  return found - q.labels.begin();
}

}  // namespace

std::vector<TaskDocument> read_arc_documents(const std::string& path) {
  std::vector<TaskDocument> documents;
  for (const auto& r : read_jsonl_records(path)) {
    const RecordReader record(path, r);
    const QuestionRecord q = read_question(record, "question");
    TaskDocument doc;
    doc.line = r.line;
    const std::string context = "Question: " + q.stem + "\nAnswer:";  // arc_easy.yaml doc_to_text
    for (const auto& text : q.texts) doc.requests.emplace_back(context, " " + text);
    doc.choices = q.texts;
    doc.gold = gold_index(record, q, q.answer_key);
    documents.push_back(std::move(doc));
  }
  return documents;
}

std::vector<TaskDocument> read_openbookqa_documents(const std::string& path) {
  std::vector<TaskDocument> documents;
  for (const auto& r : read_jsonl_records(path)) {
    const RecordReader record(path, r);
    const QuestionRecord q = read_question(record, "question_stem");
    TaskDocument doc;
    doc.line = r.line;
    for (const auto& text : q.texts) doc.requests.emplace_back(q.stem, " " + text);  // doc_to_text: question_stem
    doc.choices = q.texts;
    // openbookqa.yaml: choices.label.index(answerKey.lstrip())
    doc.gold = gold_index(record, q, q.answer_key.substr(leading_whitespace_bytes(q.answer_key)));
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
