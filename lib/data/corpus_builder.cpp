#include "data/corpus_builder.h"

#include "common/error.h"
#include "data/corpus_markup.h"
#include "data/documents.h"
#include "data/tokenizer_training.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <zlib.h>

#include <algorithm>
#include <boost/filesystem.hpp>
#include <fstream>
#include <iostream>

namespace matquant::data {

namespace fs = boost::filesystem;

namespace {

const char* format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kInfo: return "info";
    case SourceFormat::kRoff: return "man";
    case SourceFormat::kHtml: return "html";
    case SourceFormat::kText: return "text";
  }
  return "?";
}

// Whole file, gunzipped when compressed (gzread passes plain files through).
std::string read_file(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw Error(ErrorCode::kIo, "cannot open " + path);
  std::string contents;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) contents.append(buffer, size_t(n));
  const bool failed = n < 0;
  gzclose(file);
  if (failed) throw Error(ErrorCode::kIo, "cannot read " + path + " (corrupt gzip?)");
  return contents;
}

std::vector<std::string> source_files(const CorpusSource& source, const std::vector<std::string>& exclude_prefixes) {
  std::vector<std::string> files;
  if (fs::is_regular_file(source.path)) return {source.path};
  for (fs::recursive_directory_iterator it(source.path), end; it != end; ++it) {
    if (!fs::is_regular_file(it->path())) continue;
    const std::string name = it->path().filename().string();
    if (!source.name_contains.empty() && name.find(source.name_contains) == std::string::npos) continue;
    if (source.format == SourceFormat::kInfo && (name == "dir" || name.rfind("dir.", 0) == 0)) continue;
    if (std::any_of(exclude_prefixes.begin(), exclude_prefixes.end(),
                    [&](const std::string& p) { return name.rfind(p, 0) == 0; })) {
      continue;
    }
    files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

int64_t count_tokens(const sentencepiece::SentencePieceProcessor& processor, const std::vector<std::string>& documents) {
  int64_t tokens = 0;
  std::vector<int> ids;
  for (const auto& d : documents) {
    processor.Encode(d, &ids);
    tokens += int64_t(ids.size());
  }
  return tokens;
}

nlohmann::json stats_json(const CorpusStats& s, const CorpusBuildOptions& o) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& src : o.sources) {
    const auto it = s.by_source.find(src.path);
    const SourceCounts c = it == s.by_source.end() ? SourceCounts{} : it->second;
    sources.push_back({{"format", format_name(src.format)}, {"path", src.path}, {"name_contains", src.name_contains},
                       {"files", c.files}, {"documents", c.documents}, {"characters", c.characters}});
  }
  return {{"format_version", 1},
          {"train", {{"documents", s.train_documents}, {"characters", s.train_characters}, {"tokens", s.train_tokens}}},
          {"validation",
           {{"documents", s.validation_documents}, {"characters", s.validation_characters}, {"tokens", s.validation_tokens}}},
          {"files", s.files},
          {"paragraphs", {{"read", s.paragraphs_read}, {"not_prose", s.paragraphs_not_prose},
                          {"duplicate", s.paragraphs_duplicate}}},
          {"documents_duplicate", s.documents_duplicate},
          {"filter", {{"min_paragraph_words", o.filter.min_paragraph_words},
                      {"min_paragraph_letter_ratio", o.filter.min_paragraph_letter_ratio},
                      {"min_document_chars", o.filter.min_document_chars},
                      {"target_document_chars", o.filter.target_document_chars},
                      {"max_document_chars", o.filter.max_document_chars}}},
          {"validation_fraction", o.validation_fraction}, {"exclude_prefixes", o.exclude_prefixes},
          {"vocab_size", o.train_tokenizer ? nlohmann::json(o.vocab_size) : nlohmann::json(nullptr)},
          {"sources", sources}};
}

}  // namespace

std::vector<CorpusSource> default_corpus_sources() {
  return {
      {SourceFormat::kInfo, "/usr/share/info", ".info"},
      {SourceFormat::kHtml, "/usr/share/doc/postgresql-doc-15/html", ".html"},
      {SourceFormat::kHtml, "/usr/share/debian-reference", ".en.html"},
      {SourceFormat::kHtml, "/usr/share/doc/maint-guide/html", ".en.html"},
      {SourceFormat::kText, "/usr/share/doc/jargon-text/jargon.txt.gz", ""},
      {SourceFormat::kRoff, "/usr/share/man/man1", ""},
      {SourceFormat::kRoff, "/usr/share/man/man5", ""},
      {SourceFormat::kRoff, "/usr/share/man/man7", ""},
      {SourceFormat::kRoff, "/usr/share/man/man8", ""},
  };
}

CorpusSource parse_corpus_source(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    throw Error(ErrorCode::kUsage, "--source '" + text + "' must be FORMAT:PATH[:NAME_CONTAINS] (info, man, html, text)");
  }
  const std::string format = text.substr(0, colon);
  std::string path = text.substr(colon + 1);
  CorpusSource source;
  const auto second = path.find(':');
  if (second != std::string::npos) {
    source.name_contains = path.substr(second + 1);
    path = path.substr(0, second);
  }
  source.path = path;
  if (format == "info") source.format = SourceFormat::kInfo;
  else if (format == "man") source.format = SourceFormat::kRoff;
  else if (format == "html") source.format = SourceFormat::kHtml;
  else if (format == "text") source.format = SourceFormat::kText;
  else throw Error(ErrorCode::kUsage, "--source '" + text + "': format must be info, man, html or text");
  return source;
}

std::vector<std::string> corpus_documents(const std::string& contents, SourceFormat format,
                                          const CorpusFilter& filter, ExactDeduplicator& deduplicator,
                                          CorpusStats* stats) {
  std::vector<std::string> texts;
  switch (format) {
    case SourceFormat::kInfo: texts = info_nodes_to_text(contents); break;
    case SourceFormat::kRoff: texts = {roff_to_text(contents)}; break;
    case SourceFormat::kHtml: texts = {html_to_text(contents)}; break;
    case SourceFormat::kText: texts = {contents}; break;
  }
  std::vector<std::vector<std::string>> sections;
  for (const auto& text : texts) {
    std::vector<std::string> kept;
    for (auto& paragraph : split_paragraphs(text)) {
      if (stats) ++stats->paragraphs_read;
      if (!is_prose_paragraph(paragraph, filter)) {
        if (stats) ++stats->paragraphs_not_prose;
        continue;
      }
      if (!deduplicator.first_time(paragraph)) {
        if (stats) ++stats->paragraphs_duplicate;
        continue;
      }
      kept.push_back(std::move(paragraph));
    }
    sections.push_back(std::move(kept));
  }
  return group_documents(sections, filter);
}

CorpusStats build_corpus(const std::string& output_dir, const CorpusBuildOptions& options) {
  if (options.validation_fraction <= 0.0 || options.validation_fraction >= 1.0) {
    throw Error(ErrorCode::kUsage, "--validation-fraction must be in (0, 1)");
  }
  CorpusStats stats;
  ExactDeduplicator paragraphs;
  ExactDeduplicator documents;
  std::vector<std::string> train, validation;
  bool full = false;
  for (const auto& source : options.sources) {
    if (full) break;
    if (!fs::exists(source.path)) {
      std::cerr << "[matquant] corpus: skipping " << source.path
                << " (not installed; scripts/install-corpus-sources.sh installs it)\n";
      continue;
    }
    SourceCounts& counts = stats.by_source[source.path];
    for (const auto& file : source_files(source, options.exclude_prefixes)) {
      if (full) break;
      ++counts.files;
      ++stats.files;
      for (auto& doc : corpus_documents(read_file(file), source.format, options.filter, paragraphs, &stats)) {
        if (!documents.first_time(doc)) {
          ++stats.documents_duplicate;
          continue;
        }
        ++counts.documents;
        counts.characters += int64_t(doc.size());
        if (is_validation_document(doc, options.validation_fraction)) {
          stats.validation_characters += int64_t(doc.size());
          validation.push_back(std::move(doc));
        } else {
          stats.train_characters += int64_t(doc.size());
          train.push_back(std::move(doc));
        }
        if (options.max_documents > 0 && int64_t(train.size() + validation.size()) >= options.max_documents) {
          full = true;
          break;
        }
      }
    }
    std::cerr << fmt::format("[matquant] corpus: {} {}: {} files, {} documents, {} characters\n",
                             format_name(source.format), source.path, counts.files, counts.documents,
                             counts.characters);
  }
  if (train.empty() || validation.empty()) {
    throw Error(ErrorCode::kInvalidInput,
                fmt::format("corpus has {} train and {} validation documents; install the sources "
                            "(scripts/install-corpus-sources.sh) or add --source",
                            train.size(), validation.size()));
  }
  stats.train_documents = int64_t(train.size());
  stats.validation_documents = int64_t(validation.size());
  fs::create_directories(output_dir);
  write_jsonl_gz((fs::path(output_dir) / "train.json.gz").string(), train);
  write_jsonl_gz((fs::path(output_dir) / "validation.json.gz").string(), validation);
  if (options.train_tokenizer) {
    std::cerr << "[matquant] corpus: training a " << options.vocab_size << "-piece SentencePiece tokenizer\n";
    TokenizerTrainingOptions t;
    t.vocab_size = options.vocab_size;
    t.threads = options.threads;
    const std::string model_path = train_tokenizer(train, output_dir, t);
    sentencepiece::SentencePieceProcessor processor;
    if (!processor.Load(model_path).ok()) throw Error(ErrorCode::kIo, "cannot load " + model_path);
    stats.train_tokens = count_tokens(processor, train);
    stats.validation_tokens = count_tokens(processor, validation);
  }
  const std::string json_path = (fs::path(output_dir) / "corpus.json").string();
  std::ofstream out(json_path + ".tmp");
  out << stats_json(stats, options).dump(2) << "\n";
  out.close();
  if (!out) throw Error(ErrorCode::kIo, "cannot write " + json_path);
  fs::rename(json_path + ".tmp", json_path);
  return stats;
}

}  // namespace matquant::data
