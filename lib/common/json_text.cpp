#include "common/json_text.h"

#include "common/error.h"

namespace matquant {

namespace {

// The deepest bracket nesting outside strings.
int nesting_depth(const std::string& text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// "[json.exception.parse_error.101] parse error at line 1, column 3: ..." -> "parse error at ...".
std::string without_tag(const std::string& what) {
  const size_t tag_end = what.rfind(']', what.find(' ') == std::string::npos ? what.size() : what.find(' '));
  return what.rfind("[json.exception.", 0) == 0 && tag_end != std::string::npos ? what.substr(tag_end + 2) : what;
}

}  // namespace

nlohmann::json parse_json_text(const std::string& text, const std::string& origin) {
  if (nesting_depth(text) > kMaxJsonNesting) {
    throw Error(ErrorCode::kInvalidInput, origin + ": not valid here: JSON nested deeper than " +
                                              std::to_string(kMaxJsonNesting) + " levels");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) throw Error(ErrorCode::kInvalidInput, origin + ": empty, expected JSON");
    throw Error(ErrorCode::kInvalidInput, origin + ": not valid JSON: " + without_tag(e.what()));
  } catch (const nlohmann::json::exception& e) {  // out_of_range.406: a number like 1e999
    throw Error(ErrorCode::kInvalidInput, origin + ": not valid JSON: " + without_tag(e.what()));
  }
}

}  // namespace matquant
