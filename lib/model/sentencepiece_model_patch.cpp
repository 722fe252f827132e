#include "model/sentencepiece_model_patch.h"

#include "common/error.h"

#include <cstdint>

namespace matquant::model {

namespace {

// Field numbers of sentencepiece_model.proto.
constexpr uint64_t kModelNormalizerSpec = 3;
constexpr uint64_t kModelSelfTestData = 4;
constexpr uint64_t kNormalizerName = 1;
constexpr uint64_t kNormalizerCharsmap = 2;
constexpr uint64_t kNormalizerRemoveExtraWhitespaces = 4;

constexpr uint64_t kVarint = 0;
constexpr uint64_t kFixed64 = 1;
constexpr uint64_t kLengthDelimited = 2;
constexpr uint64_t kFixed32 = 5;

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

void write_key(std::string& out, uint64_t field, uint64_t wire) { write_varint(out, (field << 3) | wire); }

// One field of a message: its number, wire type, where it starts and its payload (for
// length-delimited fields) or varint value.
struct Field {
  uint64_t number = 0;
  uint64_t wire = 0;
  size_t start = 0;
  size_t payload = 0;
  uint64_t value = 0;  // varint value, or payload length
};

// Reads the field at `pos` and moves past it; false at a truncated or unknown encoding.
bool next_field(const std::string& s, size_t& pos, Field& f) {
  f.start = pos;
  uint64_t key = 0;
  if (!read_varint(s, pos, key)) return false;
  f.number = key >> 3;
  f.wire = key & 7;
  if (f.wire == kVarint) return read_varint(s, pos, f.value);
  const size_t width = f.wire == kFixed64 ? 8 : f.wire == kFixed32 ? 4 : 0;
  if (width > 0) {
    if (pos + width > s.size()) return false;
    pos += width;
    return true;
  }
  if (f.wire != kLengthDelimited || !read_varint(s, pos, f.value) || f.value > s.size() - pos) return false;
  f.payload = pos;
  pos += f.value;
  return true;
}

// What the trained NormalizerSpec says, across every occurrence (protobuf merges them in order).
struct NormalizerState {
  std::string name;
  bool charsmap = false;
  bool remove_extra_whitespaces = true;  // the proto's default
};

void read_normalizer(const std::string& spec, NormalizerState& state, const std::string& path) {
  size_t pos = 0;
  Field f;
  while (pos < spec.size()) {
    if (!next_field(spec, pos, f)) {
      throw Error(ErrorCode::kInvalidInput, path + ": not a SentencePiece model (broken normalizer_spec)");
    }
    if (f.number == kNormalizerName && f.wire == kLengthDelimited) state.name = spec.substr(f.payload, f.value);
    if (f.number == kNormalizerCharsmap && f.wire == kLengthDelimited) state.charsmap = f.value > 0;
    if (f.number == kNormalizerRemoveExtraWhitespaces && f.wire == kVarint) state.remove_extra_whitespaces = f.value != 0;
  }
}

std::string identity_overrides(bool keep_charsmap) {
  std::string out;
  if (!keep_charsmap) {
    const std::string name = "identity";
    write_key(out, kNormalizerName, kLengthDelimited);
    write_varint(out, name.size());
    out += name;
    write_key(out, kNormalizerCharsmap, kLengthDelimited);
    write_varint(out, 0);
  }
  out += std::string("\x18\x00", 2);  // add_dummy_prefix (3) = false
  write_key(out, kNormalizerRemoveExtraWhitespaces, kVarint);
  write_varint(out, 0);
  return out;
}

}  // namespace

PatchedSentencePieceModel patch_sentencepiece_model_for_transformers(const std::string& model,
                                                                     const std::string& path, bool keep_charsmap) {
  PatchedSentencePieceModel patched;
  NormalizerState state;
  bool had_spec = false;
  size_t pos = 0;
  Field f;
  while (pos < model.size()) {
    if (!next_field(model, pos, f)) {
      throw Error(ErrorCode::kInvalidInput, path + ": not a SentencePiece model (unexpected protobuf encoding)");
    }
    if (f.number == kModelSelfTestData) continue;
    if (f.number == kModelNormalizerSpec && f.wire == kLengthDelimited) {
      const std::string spec = model.substr(f.payload, f.value);
      read_normalizer(spec, state, path);
      const std::string edited = spec + identity_overrides(keep_charsmap);
      write_key(patched.serialized, kModelNormalizerSpec, kLengthDelimited);
      write_varint(patched.serialized, edited.size());
      patched.serialized += edited;
      had_spec = true;
      continue;
    }
    patched.serialized.append(model, f.start, pos - f.start);
  }
  if (!had_spec) {
    // No spec means the proto's defaults (no charsmap, whitespace folding on): override them too.
    const std::string edited = identity_overrides(keep_charsmap);
    write_key(patched.serialized, kModelNormalizerSpec, kLengthDelimited);
    write_varint(patched.serialized, edited.size());
    patched.serialized += edited;
  }
  patched.original_normalizer = state.name;
  patched.normalizer_overridden = (state.charsmap && !keep_charsmap) || state.remove_extra_whitespaces;
  return patched;
}

}  // namespace matquant::model
