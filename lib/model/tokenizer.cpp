#include "model/tokenizer.h"

#include "common/error.h"

#include <sentencepiece_processor.h>

#include <boost/filesystem.hpp>

namespace matquant::model {

Tokenizer Tokenizer::load(const std::string& path, TokenizerOptions options) {
  if (!boost::filesystem::exists(path)) throw Error(ErrorCode::kNotFound, "tokenizer model " + path + " does not exist");
  Tokenizer tokenizer;
  tokenizer.processor_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = tokenizer.processor_->Load(path);
  if (!status.ok()) {
    throw Error(ErrorCode::kInvalidInput, path + ": not a SentencePiece model: " + std::string(status.message()));
  }
  tokenizer.options_ = options;
  return tokenizer;
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  std::vector<int> pieces;
  if (!text.empty()) processor_->Encode(text, &pieces);
  std::vector<int64_t> ids;
  ids.reserve(pieces.size() + 2);
  if (add_special_tokens && options_.add_bos && bos_id() >= 0) ids.push_back(bos_id());
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  if (add_special_tokens && options_.add_eos && eos_id() >= 0) ids.push_back(eos_id());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> pieces(ids.begin(), ids.end());
  std::string text;
  processor_->Decode(pieces, &text);
  return text;
}

int64_t Tokenizer::bos_id() const { return processor_->bos_id(); }
int64_t Tokenizer::eos_id() const { return processor_->eos_id(); }
int64_t Tokenizer::pad_id() const { return processor_->pad_id(); }
int64_t Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }

}  // namespace matquant::model
