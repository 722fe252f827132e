#pragma once
// JSON from a user's file, parsed with one kind of error: nesting deeper than kMaxJsonNesting (the
// library recurses per level and a file of nested brackets would overflow the stack), malformed
// text or a number too large for a double all end as ErrorCode::kInvalidInput naming the file and,
// for syntax errors, the line and column, without the JSON library's exception tag.
#include <nlohmann/json.hpp>

#include <string>

namespace matquant {

inline constexpr int kMaxJsonNesting = 256;

// `origin` names the text in messages ("spec.json", "tasks/piqa.jsonl:12").
nlohmann::json parse_json_text(const std::string& text, const std::string& origin);

}  // namespace matquant
