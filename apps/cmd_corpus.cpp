// `matquant corpus build --out DIR`: a C4-format corpus of English prose from the documentation
// Debian packages install (scripts/install-corpus-sources.sh), and a SentencePiece tokenizer.
#include "command_registry.h"

#include "common/error.h"
#include "data/corpus_builder.h"

#include <fmt/format.h>

#include <chrono>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_corpus_build(const Args& args) {
  std::string out;
  std::vector<std::string> sources;
  data::CorpusBuildOptions o;
  bool no_tokenizer = false;
  po::options_description options("options");
  options.add_options()
      ("out", po::value(&out)->required(), "output directory (train.json.gz, validation.json.gz, tokenizer.model, corpus.json)")
      ("source", po::value(&sources)->composing(),
       "FORMAT:PATH[:NAME_CONTAINS] with FORMAT info|man|html|text, repeatable; replaces the default Debian sources")
      ("exclude", po::value(&o.exclude_prefixes)->composing(),
       "skip files whose name starts with this (repeatable; replaces the default: gcloud)")
      ("vocab-size", po::value(&o.vocab_size)->default_value(o.vocab_size), "SentencePiece vocabulary size")
      ("no-tokenizer", po::bool_switch(&no_tokenizer), "do not train DIR/tokenizer.model")
      ("validation-fraction", po::value(&o.validation_fraction)->default_value(o.validation_fraction),
       "share of documents (by content hash) held out")
      ("max-documents", po::value(&o.max_documents)->default_value(o.max_documents), "stop after N documents (-1 = all)")
      ("min-document-chars", po::value(&o.filter.min_document_chars)->default_value(o.filter.min_document_chars), "")
      ("target-document-chars", po::value(&o.filter.target_document_chars)->default_value(o.filter.target_document_chars), "")
      ("min-letter-ratio", po::value(&o.filter.min_paragraph_letter_ratio)->default_value(o.filter.min_paragraph_letter_ratio),
       "paragraphs below this letters/non-space ratio are dropped")
      ("threads", po::value(&o.threads)->default_value(o.threads), "tokenizer training threads");
  po::variables_map vm;
  if (!parse_command_line("corpus build", "--out DIR [options]", options, {}, args, vm)) return 0;
  o.train_tokenizer = !no_tokenizer;
  if (vm.count("exclude") == 0) o.exclude_prefixes = data::CorpusBuildOptions{}.exclude_prefixes;
  if (!sources.empty()) {
    o.sources.clear();
    for (const auto& s : sources) o.sources.push_back(data::parse_corpus_source(s));
  }
  const auto start = std::chrono::steady_clock::now();
  const auto stats = data::build_corpus(out, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("corpus {}: {} files; train {} documents, {} characters; validation {} documents, {} characters\n",
             out, stats.files, stats.train_documents, stats.train_characters, stats.validation_documents,
             stats.validation_characters);
  fmt::print("paragraphs: {} read, {} not prose, {} duplicates; {} duplicate documents\n", stats.paragraphs_read,
             stats.paragraphs_not_prose, stats.paragraphs_duplicate, stats.documents_duplicate);
  if (stats.train_tokens >= 0) {
    fmt::print("tokens ({} vocabulary): train {}, validation {} ({:.2f} characters/token)\n", o.vocab_size,
               stats.train_tokens, stats.validation_tokens,
               double(stats.train_characters) / double(std::max<int64_t>(1, stats.train_tokens)));
  }
  fmt::print("{:.1f} s\n", seconds);
  return 0;
}

int run_corpus(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print("usage: matquant corpus build --out DIR [options]   (matquant corpus build --help)\n");
    return 0;
  }
  if (args[0] != "build") throw_usage("unknown corpus subcommand '" + args[0] + "' (known: build)");
  return run_corpus_build(Args(args.begin() + 1, args.end()));
}

const RegisterCommand kRegister{
    {"corpus", "build a C4-format corpus and tokenizer from installed Debian documentation", &run_corpus}};

}  // namespace
}  // namespace matquant::apps
