#pragma once
// `matquant corpus build`: English prose from documentation installed by Debian packages
// (scripts/install-corpus-sources.sh, docs/corpus.md) -> markup stripped, prose-filtered,
// deduplicated documents -> DIR/train.json.gz and DIR/validation.json.gz (C4's format), a
// SentencePiece tokenizer DIR/tokenizer.model, and DIR/corpus.json with the counts.
#include "data/corpus_cleaning.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace matquant::data {

enum class SourceFormat { kInfo, kRoff, kHtml, kText };

// A directory scanned recursively (or one file) for files whose name contains `name_contains`
// (empty = all); gzip is read transparently.
struct CorpusSource {
  SourceFormat format = SourceFormat::kText;
  std::string path;
  std::string name_contains;
};

// The packages' files on Debian 12 (see docs/corpus.md for the choice).
std::vector<CorpusSource> default_corpus_sources();

// "info:/usr/share/info", "man:/usr/share/man/man1", "html:DIR", "text:FILE[:SUBSTRING]".
CorpusSource parse_corpus_source(const std::string& text);

struct CorpusBuildOptions {
  std::vector<CorpusSource> sources = default_corpus_sources();
  CorpusFilter filter;
  double validation_fraction = 0.005;
  bool train_tokenizer = true;
  int64_t vocab_size = 4096;
  int threads = 2;
  int64_t max_documents = -1;  // -1 = all (a small corpus for quick checks)
  // File names starting with these are skipped. gcloud: Google's CLI package (not Debian's), on
  // some images, has ~16,600 generated manual pages of near-identical boilerplate.
  std::vector<std::string> exclude_prefixes = {"gcloud"};
};

struct SourceCounts {
  int64_t files = 0;
  int64_t documents = 0;
  int64_t characters = 0;
};

struct CorpusStats {
  int64_t files = 0;
  int64_t paragraphs_read = 0;
  int64_t paragraphs_not_prose = 0;
  int64_t paragraphs_duplicate = 0;
  int64_t documents_duplicate = 0;
  int64_t train_documents = 0;
  int64_t validation_documents = 0;
  int64_t train_characters = 0;
  int64_t validation_characters = 0;
  int64_t train_tokens = -1;  // -1 = no tokenizer
  int64_t validation_tokens = -1;
  std::map<std::string, SourceCounts> by_source;  // keyed by the source's path
};

// Documents of one file's contents in the given format (markup stripped, prose paragraphs grouped).
// Paragraph deduplication runs across calls through `deduplicator`.
std::vector<std::string> corpus_documents(const std::string& contents, SourceFormat format,
                                          const CorpusFilter& filter, ExactDeduplicator& deduplicator,
                                          CorpusStats* stats = nullptr);

// Builds the corpus into `output_dir` (created). Files are read in sorted path order, so a build is
// reproducible on the same package versions.
CorpusStats build_corpus(const std::string& output_dir, const CorpusBuildOptions& options);


}  // namespace matquant::data
