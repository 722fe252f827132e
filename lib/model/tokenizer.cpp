#include "model/tokenizer.h"

#include "common/error.h"
#include "model/sentencepiece_model_patch.h"

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace matquant::model {

namespace {

// transformers 5 reads add_bos_token / add_eos_token from tokenizer_config.json and adds neither
// when a key (or the file) is missing, whatever its classes' signatures say: recorded by
// make_tokenizer_fixtures.py (AutoTokenizer entries of tests/fixtures/tokenizer/nfkc/expected_ids.json)
// and compared in Tokenizer.NfkcModelIdsMatchTransformers.
constexpr bool kMissingKeyAddsBos = false;
constexpr bool kMissingKeyAddsEos = false;

nlohmann::json read_json_object(const boost::filesystem::path& file) {
  if (!boost::filesystem::exists(file)) return nlohmann::json::object();
  std::ifstream in(file.string());
  auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() ? json : nlohmann::json::object();
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

Tokenizer Tokenizer::load(const std::string& path, TokenizerOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "tokenizer model " + path + " does not exist");
  std::stringstream bytes;
  bytes << in.rdbuf();
  Tokenizer tokenizer;
  const auto patched = patch_sentencepiece_model_for_transformers(bytes.str(), path, options.keep_model_charsmap);
  tokenizer.normalizer_overridden_ = patched.normalizer_overridden;
  tokenizer.original_normalizer_ = patched.original_normalizer;
  tokenizer.processor_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = tokenizer.processor_->LoadFromSerializedProto(patched.serialized);
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
  const fs::path config_file = fs::path(model_dir) / "tokenizer_config.json";
  const bool has_config = fs::exists(config_file);
  const auto tokenizer_config = read_json_object(config_file);
  const auto model_config = read_json_object(fs::path(model_dir) / "config.json");
  TokenizerOptions options;
  options.add_bos = kMissingKeyAddsBos;
  options.add_eos = kMissingKeyAddsEos;
  if (tokenizer_config.contains("add_bos_token") && tokenizer_config["add_bos_token"].is_boolean()) {
    options.add_bos = tokenizer_config["add_bos_token"].get<bool>();
  }
  if (tokenizer_config.contains("add_eos_token") && tokenizer_config["add_eos_token"].is_boolean()) {
    options.add_eos = tokenizer_config["add_eos_token"].get<bool>();
  }
  // AutoTokenizer takes tokenizer_config.json's tokenizer_class first, then config.json's model_type.
  const auto& tokenizer_class = tokenizer_config.value("tokenizer_class", nlohmann::json(""));
  const std::string class_name = tokenizer_class.is_string() ? tokenizer_class.get<std::string>() : "";
  const auto& model_type_json = model_config.value("model_type", nlohmann::json(""));
  const std::string model_type = model_type_json.is_string() ? model_type_json.get<std::string>() : "";
  std::string note;
  if (starts_with(class_name, "GemmaTokenizer")) {
    options.prefix = PrefixStyle::kGemma;
  } else if (starts_with(class_name, "LlamaTokenizer")) {
    options.prefix = PrefixStyle::kLlama;
  } else if (starts_with(model_type, "gemma")) {
    options.prefix = PrefixStyle::kGemma;
  } else if (!has_config) {
    // transformers' generic tokenizer from tokenizer.model: NFKC charsmap kept, nothing prepended.
    options.prefix = PrefixStyle::kGemma;
    options.keep_model_charsmap = true;
  }
  if (!has_config) {
    note = model_dir + " has no tokenizer_config.json: encoding as transformers' AutoTokenizer does for it (no BOS" +
           std::string(options.keep_model_charsmap ? ", no \"▁\" prefix, the model's own normalizer" : "") +
           "); add one with tokenizer_class and add_bos_token to say how the model was trained";
  }
  Tokenizer tokenizer = load((fs::path(model_dir) / "tokenizer.model").string(), options);
  tokenizer.directory_note_ = note;
  return tokenizer;
}

void write_tokenizer_config(const std::string& model_dir, bool gemma_family) {
  const nlohmann::json config = {{"tokenizer_class", gemma_family ? "GemmaTokenizer" : "LlamaTokenizer"},
                                 {"bos_token", "<s>"},
                                 {"eos_token", "</s>"},
                                 {"unk_token", "<unk>"},
                                 {"pad_token", "<unk>"},
                                 {"add_bos_token", true},
                                 {"add_eos_token", false}};
  const std::string path = (boost::filesystem::path(model_dir) / "tokenizer_config.json").string();
  std::ofstream out(path);
  out << config.dump(2) << "\n";
  if (!out) throw Error(ErrorCode::kIo, path + ": cannot be written");
}

std::string Tokenizer::normalizer_warning() const {
  std::string warning = directory_note_;
  if (normalizer_overridden_) {
    const std::string name = original_normalizer_.empty() ? "(unnamed)" : original_normalizer_;
    warning += std::string(warning.empty() ? "" : "; ") + "tokenizer.model's normalizer '" + name + "' (" +
               (options_.keep_model_charsmap ? "whitespace folding" : "NFKC and/or whitespace folding") +
               ") is not applied, as transformers does not apply it";
  }
  return warning;
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
