#include "data/corpus_cleaning.h"

#include <cctype>

namespace matquant::data {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_length(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  }
  return len;
}

}  // namespace

std::string normalize_whitespace(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_length(text, i);
    if (len == 0) {  // invalid byte
      ++i;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (len == 1 && (std::isspace(c) || c < 0x20 || c == 0x7f)) {
      if (std::isspace(c)) pending_space = true;
      ++i;
      continue;
    }
    // U+00A0 (no-break space) counts as space.
    if (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) == 0xA0) {
      pending_space = true;
      i += 2;
      continue;
    }
    if (pending_space && !out.empty()) out += ' ';
    pending_space = false;
    out.append(text, i, len);
    i += len;
  }
  return out;
}

std::vector<std::string> split_paragraphs(const std::string& text) {
  std::vector<std::string> paragraphs;
  std::string current;
  size_t start = 0;
  auto flush = [&] {
    std::string p = normalize_whitespace(current);
    if (!p.empty()) paragraphs.push_back(std::move(p));
    current.clear();
  };
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) {
      flush();
    } else {
      current += line;
      current += ' ';
    }
    start = end + 1;
  }
  flush();
  return paragraphs;
}

double letter_ratio(const std::string& text) {
  int64_t letters = 0, visible = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t len = std::max<size_t>(1, utf8_length(text, i));
    const auto c = static_cast<unsigned char>(text[i]);
    if (!(len == 1 && std::isspace(c))) {
      ++visible;
      if (len > 1 || std::isalpha(c)) ++letters;
    }
    i += len;
  }
  return visible == 0 ? 0.0 : double(letters) / double(visible);
}

int64_t word_count(const std::string& text) {
  int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c));
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

bool is_prose_paragraph(const std::string& paragraph, const CorpusFilter& filter) {
  return word_count(paragraph) >= filter.min_paragraph_words &&
         letter_ratio(paragraph) >= filter.min_paragraph_letter_ratio;
}

uint64_t content_hash(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

bool ExactDeduplicator::first_time(const std::string& text) {
  std::string key = text;
  for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (seen_.insert(content_hash(key)).second) return true;
  ++duplicates_;
  return false;
}

std::vector<std::string> group_documents(const std::vector<std::vector<std::string>>& sections,
                                         const CorpusFilter& filter) {
  std::vector<std::string> documents;
  std::string current;
  auto close = [&] {
    if (int64_t(current.size()) >= filter.min_document_chars) documents.push_back(current);
    current.clear();
  };
  for (const auto& section : sections) {
    if (int64_t(current.size()) >= filter.min_document_chars) close();
    for (std::string paragraph : section) {
      // A paragraph longer than the maximum is cut at spaces into pieces.
      while (int64_t(paragraph.size()) > filter.max_document_chars) {
        size_t cut = paragraph.rfind(' ', size_t(filter.target_document_chars));
        if (cut == std::string::npos || cut == 0) cut = size_t(filter.target_document_chars);
        if (!current.empty()) close();
        current = normalize_whitespace(paragraph.substr(0, cut));
        close();
        paragraph = normalize_whitespace(paragraph.substr(cut));
      }
      if (!current.empty() && int64_t(current.size() + 1 + paragraph.size()) > filter.max_document_chars) close();
      if (!current.empty()) current += '\n';
      current += paragraph;
      if (int64_t(current.size()) >= filter.target_document_chars) close();
    }
  }
  close();
  return documents;
}

bool is_validation_document(const std::string& document, double validation_fraction) {
  constexpr uint64_t kBuckets = 1000000;
  return double(content_hash(document) % kBuckets) < validation_fraction * double(kBuckets);
}

}  // namespace matquant::data
