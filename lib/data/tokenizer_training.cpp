#include "data/tokenizer_training.h"

#include "common/error.h"

#include <fmt/format.h>
#include <sentencepiece_trainer.h>

#include <boost/filesystem.hpp>
#include <fstream>

namespace matquant::data {

std::string train_tokenizer(const std::vector<std::string>& documents, const std::string& output_dir,
                            const TokenizerTrainingOptions& options) {
  namespace fs = boost::filesystem;
  fs::create_directories(output_dir);
  const fs::path corpus = fs::path(output_dir) / "tokenizer_corpus.txt.tmp";
  {
    std::ofstream out(corpus);
    for (const auto& doc : documents) {
      std::string line = doc;
      for (char& c : line) if (c == '\n') c = ' ';
      out << line << "\n";
    }
    if (!out) throw Error(ErrorCode::kIo, "cannot write " + corpus.string());
  }
  const fs::path prefix = fs::path(output_dir) / "tokenizer";
  const std::string args = fmt::format(
      "--input={} --model_prefix={} --vocab_size={} --model_type=bpe --byte_fallback=true "
      "--character_coverage=1.0 --split_digits=true --hard_vocab_limit=false --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 "
      "--num_threads={} --minloglevel=2 --input_sentence_size=2000000 "
      "--shuffle_input_sentence=true --max_sentence_length=1000000",
      corpus.string(), prefix.string(), options.vocab_size, options.threads);
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  fs::remove(corpus);
  fs::remove(prefix.string() + ".vocab");
  if (!status.ok()) {
    throw Error(ErrorCode::kInvalidInput, "SentencePiece training failed: " + std::string(status.message()));
  }
  return prefix.string() + ".model";
}

}  // namespace matquant::data
