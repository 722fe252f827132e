#pragma once
// Python str semantics the task definitions of lm-evaluation-harness rely on, on UTF-8 text:
// len() counts code points (acc_norm divides by it), strip()/rstrip() remove Unicode whitespace,
// capitalize() titlecases the first character and lower-cases the rest (full Unicode mappings, via
// ICU), replace() is non-overlapping left to right.
#include <cstddef>
#include <cstdint>
#include <string>

namespace matquant::eval {

size_t python_length(const std::string& utf8);
// Bytes of whitespace (str.isspace) at the end / start of the text.
size_t trailing_whitespace_bytes(const std::string& utf8);
size_t leading_whitespace_bytes(const std::string& utf8);
std::string python_strip(const std::string& utf8);
// str.capitalize(): the first code point's full titlecase mapping ("ß" -> "Ss", "ǆ" -> "ǅ"), every
// other code point's full lowercase mapping, "Σ" -> "ς" where Final_Sigma holds (checked against
// Python in tests/fixtures/text/capitalize.json). Text that is not valid UTF-8 gets the ASCII-only
// rule instead: ASCII letters mapped, every other byte kept as it is; it never throws for input.
std::string python_capitalize(const std::string& utf8);
std::string python_replace(const std::string& text, const std::string& from, const std::string& to);
// len(re.split(r"\s+", text)): whitespace runs + 1, empty ends counted ("" gives 1). lm-eval's
// wikitext word count (tasks/wikitext/preprocess_wikitext.py); re's \s is str.isspace().
int64_t python_whitespace_split_count(const std::string& utf8);

}  // namespace matquant::eval
