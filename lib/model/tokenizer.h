#pragma once
// SentencePiece tokenizer (tokenizer.model of Llama-2, Mistral, Gemma) encoding text as
// transformers 5 does for the same model directory (checked against
// tests/fixtures/tokenizer/{expected_ids.json, nfkc/expected_ids.json}, made by
// tests/reference/make_tokenizer_fixtures.py with transformers 5.17):
//   llama style: a "▁" is prepended unless the text already starts with a space
//   gemma style: nothing is prepended
//   both: special-token text such as "<s>" inside a string becomes that token's id; BOS/EOS are
//   added per tokenizer_config.json (add_bos_token / add_eos_token); a missing key gets
//   transformers 5's default: none (its tokenizers read the key, their signatures' True is unused).
//   both: the model's own normalizer (NFKC charsmap, whitespace folding: SentencePiece's training
//   defaults) is replaced by identity, as transformers builds LlamaTokenizer / GemmaTokenizer
//   without it; see model/sentencepiece_model_patch.h.
// Without tokenizer_config.json transformers' AutoTokenizer builds a generic tokenizer from
// tokenizer.model: for model_type gemma* it encodes like GemmaTokenizer; otherwise it keeps the
// model's NFKC charsmap (not its whitespace folding) and prepends nothing. Neither adds BOS.
// notes() says, for the user, where such a directory is encoded differently from what its model
// card would suggest.
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
  bool keep_model_charsmap = false;  // keep tokenizer.model's NFKC charsmap (AutoTokenizer without a config)
};

// The tokenizer_config.json matquant writes beside its own models' tokenizer.model, so that
// transformers (and lm-eval) encode them as they were trained: Llama's pieces (<unk>, <s>, </s>),
// BOS added. Gemma-family models get GemmaTokenizer (no "▁" prefix).
void write_tokenizer_config(const std::string& model_dir, bool gemma_family);

class Tokenizer {
 public:
  static Tokenizer load(const std::string& tokenizer_model_path, TokenizerOptions options = {});
  // DIR/tokenizer.model with options from DIR/tokenizer_config.json (add_bos_token, add_eos_token,
  // tokenizer_class Gemma* / Llama* -> style) and DIR/config.json (model_type gemma* -> gemma style).
  static Tokenizer load_for_model(const std::string& model_dir);

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t pad_id() const;
  int64_t vocab_size() const;
  const TokenizerOptions& options() const { return options_; }
  // True when tokenizer.model's normalizer would have changed some text (NFKC, whitespace folding)
  // and was replaced by identity; original_normalizer() is its name as trained ("nmt_nfkc", ...).
  bool normalizer_overridden() const { return normalizer_overridden_; }
  const std::string& original_normalizer() const { return original_normalizer_; }
  // One line for the user when normalizer_overridden() or the directory has no
  // tokenizer_config.json (load_for_model), else empty.
  std::string normalizer_warning() const;

 private:
  void encode_segment(const std::string& text, bool first, std::vector<int64_t>& out) const;

  // The model with SentencePiece's own dummy prefix and normalizer switched off; prefixes are added by us.
  std::shared_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::vector<std::pair<std::string, int64_t>> special_pieces_;  // control tokens found in text
  TokenizerOptions options_;
  bool normalizer_overridden_ = false;
  std::string original_normalizer_;
  std::string directory_note_;  // load_for_model: how a directory without tokenizer_config.json is read
};

}  // namespace matquant::model
