// Python str semantics used by lm-eval's task definitions, checked on hand-derived cases.
#include "eval/python_text.h"

#include <gtest/gtest.h>

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

TEST(PythonText, ReplaceIsNonOverlapping) {
  EXPECT_EQ(python_replace("a   b", "  ", " "), "a  b");  // "   " -> " " + " "
  EXPECT_EQ(python_replace("x [title] y", " [title]", ". "), "x.  y");
}

}  // namespace matquant::eval
