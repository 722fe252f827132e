#pragma once
// Edits a serialized SentencePiece ModelProto (protobuf wire format, no protobuf dependency) so
// SentencePiece encodes as transformers' fast Llama/Gemma tokenizers do. transformers builds those
// from tokenizer.model with its own normalizer (spaces become "▁", nothing else), so it ignores the
// model's NormalizerSpec: no NFKC (precompiled_charsmap), no whitespace folding, and the dummy
// prefix is its pre-tokenizer's business (Tokenizer adds it). We append, to NormalizerSpec,
//   name = "identity", precompiled_charsmap = "", add_dummy_prefix = false,
//   remove_extra_whitespaces = false
// (protobuf keeps the last value of a singular field), and drop self_test_data, whose expected
// pieces were made with the original normalizer.
#include <string>

namespace matquant::model {

struct PatchedSentencePieceModel {
  std::string serialized;           // the edited ModelProto
  std::string original_normalizer;  // NormalizerSpec.name as trained ("" when unnamed)
  // The original normalizer changed text (a non-empty charsmap or whitespace folding), so plain
  // SentencePiece would give other ids than transformers for some texts.
  bool normalizer_overridden = false;
};

// `path` names the file in error messages (kInvalidInput for bytes that are not a ModelProto).
// keep_charsmap keeps the model's NFKC charsmap (transformers' AutoTokenizer on a directory without
// tokenizer_config.json does); whitespace folding and the dummy prefix are switched off either way.
PatchedSentencePieceModel patch_sentencepiece_model_for_transformers(const std::string& model,
                                                                     const std::string& path,
                                                                     bool keep_charsmap = false);

}  // namespace matquant::model
