#pragma once
// SentencePiece tokenizer (tokenizer.model of Llama-2, Mistral, Gemma) encoding text as
// transformers' LlamaTokenizer / GemmaTokenizer do (checked against
// tests/fixtures/tokenizer/expected_ids.json, made by tests/reference/make_tokenizer_fixtures.py):
//   llama style: a "▁" is prepended unless the text already starts with a space
//   gemma style: nothing is prepended
//   both: special-token text such as "<s>" inside a string becomes that token's id; BOS/EOS are
//   added per tokenizer_config.json (add_bos_token / add_eos_token), absent = not added.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace matquant::model {

enum class PrefixStyle { kLlama, kGemma };

struct TokenizerOptions {
  bool add_bos = true;
  bool add_eos = false;
  PrefixStyle prefix = PrefixStyle::kLlama;
};

class Tokenizer {
 public:
  static Tokenizer load(const std::string& tokenizer_model_path, TokenizerOptions options = {});
  // DIR/tokenizer.model with options from DIR/tokenizer_config.json and DIR/config.json
  // (model_type gemma* -> gemma style).
  static Tokenizer load_for_model(const std::string& model_dir);

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t pad_id() const;
  int64_t vocab_size() const;
  const TokenizerOptions& options() const { return options_; }

 private:
  void encode_segment(const std::string& text, bool first, std::vector<int64_t>& out) const;

  // The model with SentencePiece's own dummy prefix switched off; prefixes are added by us.
  std::shared_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::vector<std::pair<std::string, int64_t>> special_pieces_;  // control tokens found in text
  TokenizerOptions options_;
};

}  // namespace matquant::model
