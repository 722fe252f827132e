#pragma once
// SentencePiece tokenizer (tokenizer.model of Llama-2, Mistral, Gemma) with BOS/EOS handling as
// Hugging Face transformers applies it for these models: BOS prepended, no EOS, by default.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace matquant::model {

struct TokenizerOptions {
  bool add_bos = true;
  bool add_eos = false;
};

class Tokenizer {
 public:
  static Tokenizer load(const std::string& tokenizer_model_path, TokenizerOptions options = {});

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t pad_id() const;
  int64_t vocab_size() const;
  const TokenizerOptions& options() const { return options_; }

 private:
  std::shared_ptr<sentencepiece::SentencePieceProcessor> processor_;
  TokenizerOptions options_;
};

}  // namespace matquant::model
