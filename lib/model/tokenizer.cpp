#include "model/tokenizer.h"

#include "common/error.h"

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace matquant::model {

namespace {

// Protobuf wire format, just enough to switch NormalizerSpec.add_dummy_prefix (field 3) off in
// ModelProto.normalizer_spec (field 3): re-emit that message with "field 3 = false" appended,
// which protobuf reads as the field's final value.
bool read_varint(const std::string& s, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; pos < s.size() && shift < 64; shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(s[pos++]);
    value |= uint64_t(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

void write_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(char((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(char(value));
}

std::string without_dummy_prefix(const std::string& model, const std::string& path) {
  std::string out;
  size_t pos = 0;
  bool patched = false;
  while (pos < model.size()) {
    const size_t start = pos;
    uint64_t key = 0;
    if (!read_varint(model, pos, key)) break;
    const uint64_t field = key >> 3;
    const uint64_t wire = key & 7;
    uint64_t length = 0;
    if (wire == 0) {
      read_varint(model, pos, length);
    } else if (wire == 1) {
      pos += 8;
    } else if (wire == 5) {
      pos += 4;
    } else if (wire == 2) {
      if (!read_varint(model, pos, length) || pos + length > model.size()) break;
      if (field == 3) {
        std::string spec = model.substr(pos, length);
        spec += std::string("\x18\x00", 2);  // add_dummy_prefix = false
        write_varint(out, key);
        write_varint(out, spec.size());
        out += spec;
        pos += length;
        patched = true;
        continue;
      }
      pos += length;
    } else {
      throw Error(ErrorCode::kInvalidInput, path + ": not a SentencePiece model (unexpected protobuf wire type)");
    }
    out.append(model, start, pos - start);
  }
  if (!patched) out += std::string("\x1a\x02\x18\x00", 4);  // a normalizer_spec holding only the flag
  return out;
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path, TokenizerOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "tokenizer model " + path + " does not exist");
  std::stringstream bytes;
  bytes << in.rdbuf();
  Tokenizer tokenizer;
  tokenizer.processor_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = tokenizer.processor_->LoadFromSerializedProto(without_dummy_prefix(bytes.str(), path));
  if (!status.ok()) {
    throw Error(ErrorCode::kInvalidInput, path + ": not a SentencePiece model: " + std::string(status.message()));
  }
  for (int id = 0; id < tokenizer.processor_->GetPieceSize(); ++id) {
    if (tokenizer.processor_->IsControl(id)) {
      const std::string piece = tokenizer.processor_->IdToPiece(id);
      if (!piece.empty()) tokenizer.special_pieces_.emplace_back(piece, id);
    }
  }
  // Longest first, so "<start_of_turn>" wins over a shorter piece at the same place.
  std::sort(tokenizer.special_pieces_.begin(), tokenizer.special_pieces_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  tokenizer.options_ = options;
  return tokenizer;
}

Tokenizer Tokenizer::load_for_model(const std::string& model_dir) {
  namespace fs = boost::filesystem;
  TokenizerOptions options;
  options.add_bos = false;
  const fs::path config = fs::path(model_dir) / "tokenizer_config.json";
  if (fs::exists(config)) {
    std::ifstream in(config.string());
    const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (json.is_object()) {
      options.add_bos = json.value("add_bos_token", false);
      options.add_eos = json.value("add_eos_token", false);
    }
  } else {
    options.add_bos = true;  // matquant's own models are trained with BOS
  }
  const fs::path model_config = fs::path(model_dir) / "config.json";
  if (fs::exists(model_config)) {
    std::ifstream in(model_config.string());
    const auto json = nlohmann::json::parse(in, nullptr, false);
    if (json.is_object() && json.value("model_type", "").rfind("gemma", 0) == 0) options.prefix = PrefixStyle::kGemma;
  }
  return load((fs::path(model_dir) / "tokenizer.model").string(), options);
}

void Tokenizer::encode_segment(const std::string& text, bool first, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::string input = text;
  if (options_.prefix == PrefixStyle::kLlama && first && text.front() != ' ') input = " " + text;
  std::vector<int> pieces;
  processor_->Encode(input, &pieces);
  out.insert(out.end(), pieces.begin(), pieces.end());
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  std::vector<int64_t> ids;
  if (add_special_tokens && options_.add_bos && bos_id() >= 0) ids.push_back(bos_id());
  size_t pos = 0;
  size_t segment_start = 0;
  while (pos < text.size()) {
    bool matched = false;
    for (const auto& [piece, id] : special_pieces_) {
      if (text.compare(pos, piece.size(), piece) == 0) {
        encode_segment(text.substr(segment_start, pos - segment_start), segment_start == 0, ids);
        ids.push_back(id);
        pos += piece.size();
        segment_start = pos;
        matched = true;
        break;
      }
    }
    if (!matched) ++pos;
  }
  encode_segment(text.substr(segment_start), segment_start == 0, ids);
  if (add_special_tokens && options_.add_eos && eos_id() >= 0) ids.push_back(eos_id());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> pieces(ids.begin(), ids.end());
  std::string text;
  processor_->Decode(pieces, &text);
  // The "▁" we prepend is not part of the text (transformers strips it too).
  if (options_.prefix == PrefixStyle::kLlama && !text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

int64_t Tokenizer::bos_id() const { return processor_->bos_id(); }
int64_t Tokenizer::eos_id() const { return processor_->eos_id(); }
int64_t Tokenizer::pad_id() const { return processor_->pad_id(); }
int64_t Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }

}  // namespace matquant::model
