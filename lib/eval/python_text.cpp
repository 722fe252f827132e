#include "eval/python_text.h"

#include "common/error.h"

#include <unicode/ucasemap.h>
#include <unicode/utf8.h>
#include <unicode/utypes.h>

#include <cctype>
#include <cstdint>
#include <memory>

namespace matquant::eval {

namespace {

bool is_continuation_byte(unsigned char c) { return (c & 0xC0) == 0x80; }

// Unicode whitespace as Python's str.isspace() sees it.
bool is_python_space(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes the code point starting at byte `at`; sets `length` to its byte count.
uint32_t decode_at(const std::string& s, size_t at, size_t& length) {
  const auto c = static_cast<unsigned char>(s[at]);
  length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
  if (at + length > s.size()) length = s.size() - at;
  uint32_t cp = length == 1 ? c : length == 2 ? (c & 0x1F) : length == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t i = 1; i < length; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[at + i]) & 0x3F);
  return cp;
}

// The ASCII-only rule used for text that is not valid UTF-8 (Python never sees such text: lm-eval
// decodes its files first): ASCII letters are mapped, every other byte is kept.
std::string ascii_capitalize(const std::string& bytes) {
  std::string out = bytes;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    if (c >= 0x80) continue;
    out[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return out;
}

bool is_valid_utf8(const std::string& s) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(s.data());
  const auto length = static_cast<int32_t>(s.size());
  for (int32_t at = 0; at < length;) {
    UChar32 cp = 0;
    U8_NEXT(bytes, at, length, cp);
    if (cp < 0) return false;
  }
  return true;
}

}  // namespace

size_t python_length(const std::string& utf8) {
  size_t n = 0;
  for (const char c : utf8) n += is_continuation_byte(static_cast<unsigned char>(c)) ? 0 : 1;
  return n;
}

size_t leading_whitespace_bytes(const std::string& utf8) {
  size_t at = 0;
  while (at < utf8.size()) {
    size_t length = 0;
    if (!is_python_space(decode_at(utf8, at, length))) break;
    at += length;
  }
  return at;
}

size_t trailing_whitespace_bytes(const std::string& utf8) {
  size_t end = utf8.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && is_continuation_byte(static_cast<unsigned char>(utf8[start]))) --start;
    size_t length = 0;
    if (!is_python_space(decode_at(utf8, start, length))) break;
    end = start;
  }
  return utf8.size() - end;
}

std::string python_strip(const std::string& utf8) {
  const size_t lead = leading_whitespace_bytes(utf8);
  if (lead == utf8.size()) return "";
  return utf8.substr(lead, utf8.size() - lead - trailing_whitespace_bytes(utf8));
}

std::string python_capitalize(const std::string& utf8) {
  if (utf8.empty()) return utf8;
  if (!is_valid_utf8(utf8)) return ascii_capitalize(utf8);
  // Titlecasing the whole string as one word, without moving the titlecase position to the first
  // cased letter, is Python's rule: full titlecase mapping of character 0, full lowercase mappings
  // of the rest, Final_Sigma judged on the whole text (the root locale has no language rules).
  UErrorCode status = U_ZERO_ERROR;
  const std::unique_ptr<UCaseMap, void (*)(UCaseMap*)> map(
      ucasemap_open("", U_TITLECASE_WHOLE_STRING | U_TITLECASE_NO_BREAK_ADJUSTMENT, &status), ucasemap_close);
  // A first guess at the size (full mappings can grow text: "ΐ" becomes three code points); ICU
  // reports the size it needs when the guess is short.
  std::string out(utf8.size() * 3 + 16, '\0');
  int32_t written = 0;
  if (U_SUCCESS(status)) {
    written = ucasemap_utf8ToTitle(map.get(), out.data(), static_cast<int32_t>(out.size()), utf8.data(),
                                   static_cast<int32_t>(utf8.size()), &status);
  }
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    out.assign(static_cast<size_t>(written), '\0');
    written = ucasemap_utf8ToTitle(map.get(), out.data(), written, utf8.data(), static_cast<int32_t>(utf8.size()),
                                   &status);
  }
  if (U_FAILURE(status)) {
    throw Error(ErrorCode::kInternal, std::string("capitalize: ICU case mapping failed: ") + u_errorName(status));
  }
  out.resize(static_cast<size_t>(written));
  return out;
}

std::string python_replace(const std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t found = text.find(from, at);
    if (found == std::string::npos) break;
    out.append(text, at, found - at).append(to);
    at = found + from.size();
  }
  return out.append(text, at, std::string::npos);
}

int64_t python_whitespace_split_count(const std::string& utf8) {
  int64_t pieces = 1;
  bool in_space = false;
  for (size_t at = 0; at < utf8.size();) {
    size_t length = 0;
    const bool space = is_python_space(decode_at(utf8, at, length));
    if (space && !in_space) ++pieces;
    in_space = space;
    at += length;
  }
  return pieces;
}

}  // namespace matquant::eval
