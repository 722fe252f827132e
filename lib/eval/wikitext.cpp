#include "eval/wikitext.h"

#include "common/error.h"
#include "eval/python_text.h"
#include "eval/task_file.h"

#include <boost/filesystem.hpp>

#include <fstream>
#include <sstream>

namespace matquant::eval {

namespace {

std::string read_text_file(const std::string& path) {
  if (!boost::filesystem::exists(path)) throw Error(ErrorCode::kNotFound, path + ": file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path + ": cannot be read");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Python's universal newlines: "\r\n" and a lone "\r" become "\n".
std::string universal_newlines(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out.push_back(text[i]);
    } else {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    }
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// re.sub(open \s*([^close]*?)\s* close, open \1 close): from each `open`, the text up to the next
// `close` loses its leading and trailing whitespace; scanning resumes after `close`. An `open`
// with no `close` after it is left alone. The lazy group cannot cross `close`, so the match always
// ends at the first `close`; greedy leading \s* and the lazy group make \1 the stripped text.
std::string strip_inside(const std::string& text, char open, char close) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  while (at < text.size()) {
    const size_t start = text.find(open, at);
    if (start == std::string::npos) break;
    const size_t end = text.find(close, start + 1);
    if (end == std::string::npos) break;  // no later `open` can match either
    out.append(text, at, start - at);
    out.push_back(open);
    out.append(python_strip(text.substr(start + 1, end - start - 1)));
    out.push_back(close);
    at = end + 1;
  }
  return out.append(text, at, std::string::npos);
}

// re.sub(r"/' [0-9]/", r"/'[0-9]/", s): the replacement is the literal text "/'[0-9]/" (only
// backslashes are special in a replacement string), so "/' 5/" becomes "/'[0-9]/".
std::string slash_quote_digit(const std::string& text) {
  std::string out;
  size_t at = 0;
  while (true) {
    size_t found = text.find("/' ", at);
    while (found != std::string::npos &&
           !(found + 4 < text.size() && text[found + 3] >= '0' && text[found + 3] <= '9' && text[found + 4] == '/')) {
      found = text.find("/' ", found + 1);
    }
    if (found == std::string::npos) break;
    out.append(text, at, found - at).append("/'[0-9]/");
    at = found + 5;
  }
  return out.append(text, at, std::string::npos);
}

}  // namespace

std::vector<WikitextPage> split_wikitext_pages(const std::string& raw) {
  const std::string text = universal_newlines(raw);
  std::vector<WikitextPage> pages;
  std::string current;
  bool has_lines = false;
  int64_t first_line = 1;
  int64_t number = 0;
  size_t at = 0;
  while (true) {
    const size_t newline = text.find('\n', at);
    const std::string line = text.substr(at, newline == std::string::npos ? std::string::npos : newline - at);
    ++number;
    const std::string rline = python_strip(python_replace(python_replace(line, "= = =", "==="), "= =", "=="));
    if (starts_with(rline, "= ") && ends_with(rline, " =")) {
      if (!python_strip(current).empty()) pages.push_back({current, first_line});
      current.clear();
      has_lines = false;
      first_line = number;
    }
    if (has_lines) current.push_back('\n');
    current += line;
    has_lines = true;
    if (newline == std::string::npos) break;
    at = newline + 1;
  }
  pages.push_back({current, first_line});
  return pages;
}

std::string wikitext_detokenize(const std::string& page) {
  std::string s = page;
  // contractions
  s = python_replace(s, "s '", "s'");
  s = slash_quote_digit(s);
  // number separators
  s = python_replace(s, " @-@ ", "-");
  s = python_replace(s, " @,@ ", ",");
  s = python_replace(s, " @.@ ", ".");
  // punctuation
  for (const char* p : {" : ", " ; ", " . ", " ! ", " ? ", " , "}) {
    const std::string from = p;
    s = python_replace(s, from, from.substr(1));
  }
  // double brackets
  s = strip_inside(s, '(', ')');
  s = strip_inside(s, '[', ']');
  s = strip_inside(s, '{', '}');
  s = strip_inside(s, '"', '"');
  s = strip_inside(s, '\'', '\'');
  // miscellaneous
  s = python_replace(s, "= = = =", "====");
  s = python_replace(s, "= = =", "===");
  s = python_replace(s, "= =", "==");
  s = python_replace(s, " \xC2\xB0 ", "\xC2\xB0");  // chr(176), the degree sign
  s = python_replace(s, " \n", "\n");
  s = python_replace(s, "\n ", "\n");
  s = python_replace(s, " N ", " 1 ");
  s = python_replace(s, " 's", "'s");
  return s;
}

std::vector<TaskDocument> read_wikitext_documents(const std::string& path) {
  std::vector<WikitextPage> pages;
  if (ends_with(path, ".raw")) {
    pages = split_wikitext_pages(read_text_file(path));
  } else {
    for (const auto& record : read_jsonl_records(path)) {
      pages.push_back({RecordReader(path, record).text("page"), record.line});
    }
  }
  std::vector<TaskDocument> documents;
  for (auto& page : pages) {
    TaskDocument doc;
    doc.rolling_target = wikitext_detokenize(page.page);
    doc.words = python_whitespace_split_count(page.page);
    doc.bytes = int64_t(page.page.size());
    doc.line = page.line;
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace matquant::eval
