#include "data/documents.h"

#include "common/error.h"
#include "common/json_text.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <boost/filesystem.hpp>
#include <fstream>
#include <memory>

namespace matquant::data {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads lines from a gzip file (or plain file: gzread passes uncompressed data through).
class LineReader {
 public:
  explicit LineReader(const std::string& path) : file_(gzopen(path.c_str(), "rb")) {
    if (file_ == nullptr) throw Error(ErrorCode::kNotFound, "cannot open " + path);
    gzbuffer(file_, 1 << 20);
  }
  ~LineReader() { gzclose(file_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool next(std::string& line) {
    line.clear();
    char buffer[1 << 16];
    while (gzgets(file_, buffer, sizeof(buffer)) != nullptr) {
      line += buffer;
      if (!line.empty() && line.back() == '\n') {
        line.pop_back();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
    }
    return !line.empty();
  }

 private:
  gzFile file_;
};

}  // namespace

std::vector<std::string> read_documents(const std::string& path, const DocumentReadOptions& options) {
  if (!boost::filesystem::exists(path)) {
    throw Error(ErrorCode::kNotFound, "text file " + path + " does not exist");
  }
  const bool jsonl = ends_with(path, ".json.gz") || ends_with(path, ".jsonl.gz") ||
                     ends_with(path, ".jsonl") || ends_with(path, ".json");
  std::vector<std::string> documents;
  LineReader reader(path);
  std::string line;
  std::string paragraph;
  long line_number = 0;
  auto full = [&] { return options.max_documents >= 0 && int64_t(documents.size()) >= options.max_documents; };
  while (!full() && reader.next(line)) {
    ++line_number;
    if (!jsonl) {
      if (line.find_first_not_of(" \t") == std::string::npos) {
        if (!paragraph.empty()) documents.push_back(std::move(paragraph));
        paragraph.clear();
      } else {
        paragraph += paragraph.empty() ? line : "\n" + line;
      }
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const nlohmann::json record = parse_json_text(line, path + ":" + std::to_string(line_number));
    if (!record.is_object() || !record.contains(options.field) || !record[options.field].is_string()) {
      throw Error(ErrorCode::kInvalidInput,
                  located_message(path, line_number, options.field, "missing or not a string"));
    }
    documents.push_back(record[options.field].get<std::string>());
  }
  if (!jsonl && !paragraph.empty() && !full()) documents.push_back(std::move(paragraph));
  return documents;
}

void write_jsonl_gz(const std::string& path, const std::vector<std::string>& documents) {
  const std::string tmp = path + ".tmp";
  gzFile file = gzopen(tmp.c_str(), "wb6");
  if (file == nullptr) throw Error(ErrorCode::kIo, "cannot write " + tmp);
  for (const auto& doc : documents) {
    const std::string line = nlohmann::json{{"text", doc}}.dump() + "\n";
    if (gzwrite(file, line.data(), static_cast<unsigned>(line.size())) != int(line.size())) {
      gzclose(file);
      throw Error(ErrorCode::kIo, "write failed: " + tmp);
    }
  }
  if (gzclose(file) != Z_OK) throw Error(ErrorCode::kIo, "write failed: " + tmp);
  boost::filesystem::rename(tmp, path);
}

}  // namespace matquant::data
