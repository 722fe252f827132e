#pragma once
// UTF-8 validation of text read from users' files, before any parser or the JSON library sees it
// (nlohmann::json throws on invalid UTF-8 only when it writes, far from the file at fault).
// Header-only so modules without LibTorch (sweep, report) can use it.
#include <cstddef>
#include <string>
#include <string_view>

namespace matquant {

struct Utf8Problem {
  size_t offset = std::string_view::npos;  // byte offset of the first bad byte; npos = valid
  long line = 0;                           // 1-based
  long column = 0;                         // 1-based, in bytes
  unsigned char byte = 0;
  bool valid() const { return offset == std::string_view::npos; }
};

// Finds the first byte that does not start or continue a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
inline Utf8Problem find_invalid_utf8(std::string_view text) {
  Utf8Problem problem;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    }
    bool bad = length == 0 || i + length > n;  // a byte that cannot start a sequence, or one cut short
    for (size_t k = 1; k < length && !bad; ++k) {
      const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
      bad = s[i + k] < lo || s[i + k] > hi;
    }
    if (bad) {  // blame the sequence's first byte: a Latin-1 'é' (0xE9) is named as itself
      problem.offset = i;
      problem.byte = c;
      problem.line = 1;
      size_t line_start = 0;
      for (size_t k = 0; k < i; ++k) {
        if (s[k] == '\n') {
          ++problem.line;
          line_start = k + 1;
        }
      }
      problem.column = long(i - line_start) + 1;
      return problem;
    }
    i += length;
  }
  return problem;
}

// "FILE:LINE:COL: not valid UTF-8 at byte offset N (0xE9); save the file as UTF-8", or "" when valid.
inline std::string utf8_error_message(std::string_view text, const std::string& file) {
  const Utf8Problem p = find_invalid_utf8(text);
  if (p.valid()) return "";
  static const char* kHex = "0123456789ABCDEF";
  const std::string hex = std::string("0x") + kHex[p.byte >> 4] + kHex[p.byte & 15];
  return file + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": not valid UTF-8 at byte offset " +
         std::to_string(p.offset) + " (" + hex + "); save the file as UTF-8";
}

}  // namespace matquant
