#pragma once
// From stripped text to corpus documents: paragraphs (lines joined, whitespace normalised, control
// characters removed), a prose filter, exact deduplication, grouping into documents of a target
// length, and a deterministic train/validation split by content hash.
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace matquant::data {

struct CorpusFilter {
  int64_t min_paragraph_words = 4;           // shorter paragraphs are headings or debris
  double min_paragraph_letter_ratio = 0.80;  // letters / non-space characters; code is lower
  int64_t min_document_chars = 300;
  int64_t target_document_chars = 2000;      // a document is closed once it reaches this
  int64_t max_document_chars = 4000;         // a longer single paragraph is cut at a space
};

// Paragraphs of a text whose paragraphs are separated by blank lines: inner lines joined with one
// space, runs of whitespace collapsed, control characters (other than the joins) removed, and
// invalid UTF-8 bytes dropped.
std::vector<std::string> split_paragraphs(const std::string& text);

// Collapses whitespace runs to one space, trims, drops control characters and invalid UTF-8.
std::string normalize_whitespace(const std::string& text);

// Letters (ASCII letters and any non-ASCII UTF-8 character) over non-space characters; 0 for "".
double letter_ratio(const std::string& text);
int64_t word_count(const std::string& text);

bool is_prose_paragraph(const std::string& paragraph, const CorpusFilter& filter);

// 64-bit FNV-1a: the content hash used for deduplication and the split (stable across machines).
uint64_t content_hash(const std::string& text);

// Remembers hashes of lower-cased text; `first_time` is true once per distinct text.
class ExactDeduplicator {
 public:
  bool first_time(const std::string& text);
  int64_t duplicates() const { return duplicates_; }

 private:
  std::unordered_set<uint64_t> seen_;
  int64_t duplicates_ = 0;
};

// Groups the paragraphs of consecutive sections (e.g. the nodes of one manual) into documents of
// about target_document_chars, joined with "\n". A section boundary closes a document that already
// has min_document_chars. Documents shorter than min_document_chars are dropped.
std::vector<std::string> group_documents(const std::vector<std::vector<std::string>>& sections,
                                         const CorpusFilter& filter);

// Deterministic split: a document is validation when its content hash falls in the first
// `validation_fraction` of the hash range.
bool is_validation_document(const std::string& document, double validation_fraction);

}  // namespace matquant::data
