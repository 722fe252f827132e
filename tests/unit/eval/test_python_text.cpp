// Python str semantics used by lm-eval's task definitions, checked on hand-derived cases and, for
// capitalize(), against Python itself (tests/reference/make_capitalize_fixtures.py).
#include "eval/python_text.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace matquant::eval {

TEST(PythonText, LengthCountsCodePoints) {
  EXPECT_EQ(python_length("cafe"), 4u);
  EXPECT_EQ(python_length("café"), 4u);        // é is two bytes, one character
  EXPECT_EQ(python_length("東京 🙂"), 4u);      // 3 + 3 + 1 + 4 bytes
  EXPECT_EQ(python_length(""), 0u);
}

TEST(PythonText, StripRemovesUnicodeWhitespace) {
  EXPECT_EQ(python_strip("  a b \n"), "a b");
  EXPECT_EQ(python_strip("\xC2\xA0x\xE3\x80\x80"), "x");  // U+00A0 and U+3000 are str.isspace()
  EXPECT_EQ(python_strip("   "), "");
  EXPECT_EQ(trailing_whitespace_bytes("Answer:  "), 2u);
  EXPECT_EQ(trailing_whitespace_bytes("é"), 0u);
}

TEST(PythonText, CapitalizeLowersTheRest) {
  EXPECT_EQ(python_capitalize("then"), "Then");
  EXPECT_EQ(python_capitalize("[step] Dig the SOIL"), "[step] dig the soil");
  EXPECT_EQ(python_capitalize(""), "");
}

TEST(PythonText, CapitalizeUsesFullUnicodeCaseMappings) {
  EXPECT_EQ(python_capitalize("élodie"), "Élodie");
  EXPECT_EQ(python_capitalize("ÉCOLE"), "École");
  EXPECT_EQ(python_capitalize("ß"), "Ss");           // full titlecase mapping: two letters
  EXPECT_EQ(python_capitalize("ǆUNGLA"), "ǅungla");  // titlecase, not uppercase (Ǆ)
  EXPECT_EQ(python_capitalize("ΣΑΣ"), "Σας");        // final sigma, the first letter as context
  EXPECT_EQ(python_capitalize("🙂 HELLO"), "🙂 hello");  // the first character, not the first letter
}

// Python decodes task files before capitalize() runs, so it has no answer for broken UTF-8; ours
// maps the ASCII letters and keeps every other byte.
TEST(PythonText, CapitalizeOfInvalidUtf8KeepsNonAsciiBytes) {
  EXPECT_EQ(python_capitalize("ab\xC3"), "Ab\xC3");          // truncated sequence at the end
  EXPECT_EQ(python_capitalize("\xFFÉCOLE X"), "\xFFÉcole x");  // stray byte first; É untouched
  EXPECT_EQ(python_capitalize("\xED\xA0\x80Z"), "\xED\xA0\x80z");  // an encoded surrogate
}

TEST(PythonText, CapitalizeMatchesPythonOnEveryFixtureString) {
  std::ifstream in(std::string(MATQUANT_FIXTURES_DIR) + "/text/capitalize.json");
  ASSERT_TRUE(in) << "missing fixture: run python3 tests/reference/make_capitalize_fixtures.py";
  const auto fixture = nlohmann::json::parse(in);
  ASSERT_EQ(fixture.at("format_version"), 1);
  int checked = 0;
  for (const auto& e : fixture.at("entries")) {
    const auto input = e.at("input").get<std::string>();
    EXPECT_EQ(python_capitalize(input), e.at("output").get<std::string>()) << "input '" << input << "'";
    ++checked;
  }
  // 62 hand-picked strings and 200 random ones (see the script); a shorter file means a lost case.
  EXPECT_EQ(checked, 262) << "Python " << fixture.at("python_version") << ", Unicode " << fixture.at("unicode_version");
}

TEST(PythonText, ReplaceIsNonOverlapping) {
  EXPECT_EQ(python_replace("a   b", "  ", " "), "a  b");  // "   " -> " " + " "
  EXPECT_EQ(python_replace("x [title] y", " [title]", ". "), "x.  y");
}

}  // namespace matquant::eval
