// Corpus building (lib/data/corpus_*): markup stripping on hand-written info, roff and HTML
// snippets, whitespace and the prose filter, deduplication, grouping, the deterministic split,
// and a whole build from a small text source.
#include "common/error.h"
#include "data/corpus_builder.h"
#include "data/corpus_cleaning.h"
#include "data/corpus_markup.h"
#include "data/documents.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <set>

using namespace matquant;
using namespace matquant::data;

namespace {

std::vector<std::string> paragraphs_of(const std::string& text) { return split_paragraphs(text); }

std::string temp_dir(const std::string& name) {
  const auto dir = boost::filesystem::temp_directory_path() / ("matquant_corpus_" + name);
  boost::filesystem::remove_all(dir);
  boost::filesystem::create_directories(dir);
  return dir.string();
}

std::string read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, size_t(n));
  gzclose(f);
  return out;
}

const std::string kInfo =
    "This is x.info, produced by makeinfo version 6.8 from x.texi.\n\n"
    "INFO-DIR-SECTION Utilities\nSTART-INFO-DIR-ENTRY\n* X: (x).  The x tool.\nEND-INFO-DIR-ENTRY\n\n"
    "\x1f\nFile: x.info,  Node: Top,  Next: Intro,  Up: (dir)\n\n"
    "Manual\n******\n\n"
    "This manual explains the tool.\nIt has two lines.\n\n"
    "* Menu:\n\n* Intro::  Introduction.\n\n"
    "\x1f\nFile: x.info,  Node: Intro,  Prev: Top,  Up: Top\n\n"
    "1 Intro\n=======\n\n"
    "Details follow (*note Usage::).\n*Note Files:: has more.\n\n"
    " -- Function: parse (source)\n     Parses see *note\nXMLPullParser: ce4. incrementally; *note parse(): 1a, and *note Tree: 2b.\n"
    "     Done.\n\n"
    "   ---------- Footnotes ----------\n\n"
    "\x1f\nTag Table:\nNode: Top\x7f" "100\n\x1f\nEnd Tag Table\n";

}  // namespace

TEST(CorpusMarkup, InfoNodesLoseHeadersMenusUnderlinesAndTagTable) {
  const auto nodes = info_nodes_to_text(kInfo);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(paragraphs_of(nodes[0]),
            (std::vector<std::string>{"Manual", "This manual explains the tool. It has two lines."}));
  EXPECT_EQ(paragraphs_of(nodes[1]),
            (std::vector<std::string>{"1 Intro", "Details follow (Usage). Files has more.",
                                      "Parses see XMLPullParser incrementally; parse(), and Tree. Done."}));
}

TEST(CorpusMarkup, RoffKeepsTextAndFontMacroArgumentsDropsRequestsAndNoFill) {
  const std::string page =
      ".\\\" a comment\n"
      ".TH LS 1 \"2023\" \"GNU\" \"User Commands\"\n"
      ".SH NAME\n"
      "ls \\- list directory contents\n"
      ".SH DESCRIPTION\n"
      "List information about the \\fBFILE\\fRs (the current\n"
      "directory by default).\n"
      ".PP\n"
      "See\n"
      ".BR dir (1)\n"
      "and \\(lqvdir\\(rq.\n"
      ".nf\n"
      "code line\n"
      ".fi\n"
      ".TP\n"
      ".B \\-a\n"
      "do not ignore entries\\&\n";
  EXPECT_EQ(paragraphs_of(roff_to_text(page)),
            (std::vector<std::string>{"NAME", "ls - list directory contents", "DESCRIPTION",
                                      "List information about the FILEs (the current directory by default).",
                                      "See dir(1) and \u201Cvdir\u201D.", "-a do not ignore entries"}));
  EXPECT_EQ(roff_to_text(".so man1/other.1\n"), "");
}

TEST(CorpusMarkup, HtmlDropsHeadCodeTablesAndScriptsDecodesEntities) {
  const std::string html =
      "<html><head><title>T</title><style>p {}</style></head><body>"
      "<p class=\"x\">First &amp; second&nbsp;para\ngraph.</p><PRE>code here</PRE>"
      "<table><tr><td><table><tr><td>inner</td></tr></table>cell</td></tr></table>"
      "<div>Third <b>bold</b> text &#8212; done &#x41;.<!-- hidden --></div>"
      "<script>var a = \"<p>\";</script></body></html>";
  EXPECT_EQ(paragraphs_of(html_to_text(html)),
            (std::vector<std::string>{"First & second para graph.", "Third bold text \u2014 done A."}));
}

TEST(CorpusCleaning, WhitespaceControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(normalize_whitespace("  a\t\tb \x01" "c\n\n d "), "a b c d");
  EXPECT_EQ(normalize_whitespace("caf\xc3\xa9\xff!"), "caf\xc3\xa9!");
  EXPECT_EQ(normalize_whitespace("no\xc2\xa0" "break"), "no break");
  EXPECT_EQ(paragraphs_of("one\ntwo\n\n\n three \n"), (std::vector<std::string>{"one two", "three"}));
}

TEST(CorpusCleaning, LetterRatioAndProseFilterThresholds) {
  EXPECT_DOUBLE_EQ(letter_ratio("ab1."), 0.5);
  EXPECT_DOUBLE_EQ(letter_ratio("h\xc3\xa9llo"), 1.0);
  EXPECT_DOUBLE_EQ(letter_ratio("a = b(1);"), 2.0 / 7.0);
  EXPECT_DOUBLE_EQ(letter_ratio(""), 0.0);
  EXPECT_EQ(word_count(" one two\tthree\n"), 3);

  CorpusFilter filter;  // 4 words, ratio 0.8
  EXPECT_TRUE(is_prose_paragraph("This is a sentence.", filter));
  EXPECT_FALSE(is_prose_paragraph("Too short here.", filter));             // 3 words
  EXPECT_FALSE(is_prose_paragraph("x = f(a, b) + g(c);", filter));         // code
  filter.min_paragraph_words = 1;
  filter.min_paragraph_letter_ratio = 0.8;
  EXPECT_TRUE(is_prose_paragraph("aaaa.", filter));  // exactly 0.8 passes
  filter.min_paragraph_letter_ratio = 0.81;
  EXPECT_FALSE(is_prose_paragraph("aaaa.", filter));
}

TEST(CorpusCleaning, ContentHashIsFnv1a64) {
  // Published FNV-1a 64-bit test vectors.
  EXPECT_EQ(content_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(content_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(content_hash("foobar"), 0x85944171f73967e8ull);
}

TEST(CorpusCleaning, ExactDeduplicationIgnoresCase) {
  ExactDeduplicator dedup;
  EXPECT_TRUE(dedup.first_time("Hello World"));
  EXPECT_FALSE(dedup.first_time("hello world"));
  EXPECT_TRUE(dedup.first_time("Hello World!"));
  EXPECT_EQ(dedup.duplicates(), 1);
}

TEST(CorpusCleaning, GroupingClosesAtTargetAndAtSectionBoundariesOnceLongEnough) {
  CorpusFilter f;
  f.min_document_chars = 10;
  f.target_document_chars = 20;
  f.max_document_chars = 40;
  const std::vector<std::vector<std::string>> sections = {
      {"aaaaaaaaaa", "bbbbbbbbbb"}, {"cc"}, {"dddddddddddd"}, {"eeeeeeeeeeee"}, {"f"}};
  // "cc" is too short to stand alone at the section boundary, so it joins the next section;
  // the trailing "f" is shorter than min_document_chars and is dropped.
  EXPECT_EQ(group_documents(sections, f),
            (std::vector<std::string>{"aaaaaaaaaa\nbbbbbbbbbb", "cc\ndddddddddddd", "eeeeeeeeeeee"}));

  f.min_document_chars = 5;
  f.target_document_chars = 10;
  f.max_document_chars = 20;
  EXPECT_EQ(group_documents({{"alpha beta gamma delta epsilon zeta"}}, f),
            (std::vector<std::string>{"alpha beta", "gamma", "delta epsilon zeta"}));
}

TEST(CorpusCleaning, SplitIsDeterministicNestedAndNearTheFraction) {
  int64_t at_10 = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string doc = "document number " + std::to_string(i);
    const bool v10 = is_validation_document(doc, 0.10);
    EXPECT_EQ(v10, is_validation_document(doc, 0.10));
    if (is_validation_document(doc, 0.05)) EXPECT_TRUE(v10);  // a smaller split is a subset
    at_10 += v10;
  }
  // Binomial(10000, 0.1): mean 1000, standard deviation 30.
  EXPECT_GT(at_10, 850);
  EXPECT_LT(at_10, 1150);
}

TEST(CorpusCleaning, DocumentsOfAnInfoFileDropCodeAndRepeatedParagraphs) {
  const std::string info =
      "\x1f\nFile: y.info,  Node: A,  Up: (dir)\n\n"
      "The first paragraph is ordinary English prose about the tool.\n\n"
      "     x = f(a, b); y[i] = 0x1f;\n\n"
      "A boilerplate paragraph that every node of the manual repeats.\n\n"
      "\x1f\nFile: y.info,  Node: B,  Up: A\n\n"
      "A boilerplate paragraph that every node of the manual repeats.\n\n"
      "The second node adds a paragraph of its own to the manual.\n";
  CorpusFilter f;
  f.min_document_chars = 20;
  f.target_document_chars = 60;
  ExactDeduplicator dedup;
  CorpusStats stats;
  const auto docs = corpus_documents(info, SourceFormat::kInfo, f, dedup, &stats);
  EXPECT_EQ(docs, (std::vector<std::string>{
                      "The first paragraph is ordinary English prose about the tool.",
                      "A boilerplate paragraph that every node of the manual repeats.",
                      "The second node adds a paragraph of its own to the manual."}));
  EXPECT_EQ(stats.paragraphs_read, 5);
  EXPECT_EQ(stats.paragraphs_not_prose, 1);
  EXPECT_EQ(stats.paragraphs_duplicate, 1);
}

TEST(CorpusBuild, WritesC4FilesWhoseSplitIsDisjointCompleteAndReproducible) {
  const std::string source_dir = temp_dir("source");
  {
    std::ofstream out(source_dir + "/book.txt");
    for (int i = 0; i < 400; ++i) {
      out << "Paragraph " << i << " tells of a river, a bridge and the town of number " << i * 7919
          << " where the sailors rest.\n\n";
    }
    out << "Paragraph 3 tells of a river, a bridge and the town of number 23757 where the sailors rest.\n\n";
  }
  CorpusBuildOptions o;
  o.sources = {parse_corpus_source("text:" + source_dir + ":.txt")};
  o.filter.min_document_chars = 50;
  o.filter.target_document_chars = 200;
  o.validation_fraction = 0.2;
  o.vocab_size = 400;
  o.threads = 1;
  const std::string first = temp_dir("build1");
  const auto stats = build_corpus(first, o);
  EXPECT_EQ(stats.paragraphs_read, 401);
  EXPECT_EQ(stats.paragraphs_duplicate, 1);
  const auto train = read_documents(first + "/train.json.gz");
  const auto validation = read_documents(first + "/validation.json.gz");
  EXPECT_EQ(int64_t(train.size()), stats.train_documents);
  EXPECT_EQ(int64_t(validation.size()), stats.validation_documents);
  std::set<std::string> all(train.begin(), train.end());
  for (const auto& v : validation) {
    EXPECT_TRUE(all.insert(v).second) << "validation document also in train";
    EXPECT_TRUE(is_validation_document(v, 0.2));
  }
  for (const auto& t : train) EXPECT_FALSE(is_validation_document(t, 0.2));
  // Every distinct paragraph is in exactly one document.
  int64_t paragraphs = 0;
  for (const auto& d : all) paragraphs += int64_t(std::count(d.begin(), d.end(), '\n')) + 1;
  EXPECT_EQ(paragraphs, 400);
  EXPECT_TRUE(boost::filesystem::exists(first + "/tokenizer.model"));
  EXPECT_GT(stats.train_tokens, 0);
  EXPECT_TRUE(boost::filesystem::exists(first + "/corpus.json"));

  o.train_tokenizer = false;
  const std::string second = temp_dir("build2");
  build_corpus(second, o);
  EXPECT_EQ(read_gz(first + "/train.json.gz"), read_gz(second + "/train.json.gz"));
  EXPECT_EQ(read_gz(first + "/validation.json.gz"), read_gz(second + "/validation.json.gz"));
}

TEST(CorpusBuild, BadSourceSpecIsAUsageError) {
  try {
    parse_corpus_source("pdf:/tmp/x");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUsage);
  }
  EXPECT_THROW(parse_corpus_source("no-colon"), Error);
}
