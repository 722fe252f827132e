#pragma once
// Text documents from the files researchers have: C4's release shards (json.gz, one JSON object
// per line with a "text" field), JSONL, or plain text (documents separated by blank lines).
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::data {

struct DocumentReadOptions {
  std::string field = "text";  // JSON field holding the text
  int64_t max_documents = -1;  // -1 = all
};

// Format chosen by extension: .json.gz/.jsonl.gz (gzip JSONL), .jsonl/.json (JSONL), else text.
// A malformed line is one error naming file, line number and field.
std::vector<std::string> read_documents(const std::string& path, const DocumentReadOptions& options = {});

// Writes documents as gzip JSONL ({"text": ...} per line), C4's format. Atomic (temp + rename).
void write_jsonl_gz(const std::string& path, const std::vector<std::string>& documents);

}  // namespace matquant::data
