// Paper CSVs: exact text kept, '-' for diverged, malformed lines named by file and line.
#include "common/error.h"
#include "report/csv_reader.h"
#include "report/paper_numbers.h"

#include <gtest/gtest.h>

namespace matquant::report {
namespace {

constexpr const char* kHeader = "table,model,base,variant,precision,column,value\n";

std::string error_of(const std::string& text) {
  try {
    PaperNumbers::parse(text, "paper.csv");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    return e.what();
  }
  return "<no error>";
}

TEST(ReportPaperNumbers, KeepsPrintedTextAndDivergedCells) {
  const PaperNumbers paper = PaperNumbers::parse(std::string(kHeader) +
                                                     "1,gemma-2-2b,omniquant,matquant,int8,task_avg,73.00\n"
                                                     "6,mistral-7b,qat,baseline,int2,task_avg,-\n"
                                                     "4,gemma-2-9b,qat,\"matquant[8, 4, 2]\",int2,log_pplx,2.660\n",
                                                 "paper.csv");
  const auto a = paper.find({"1", "gemma-2-2b", "omniquant", "matquant", "int8", "task_avg"});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->text, "73.00");
  EXPECT_DOUBLE_EQ(a->value, 73.0);
  EXPECT_EQ(a->line, 2);
  const auto b = paper.find({"6", "mistral-7b", "qat", "baseline", "int2", "task_avg"});
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->diverged);
  EXPECT_TRUE(paper.find({"4", "gemma-2-9b", "qat", "matquant[8, 4, 2]", "int2", "log_pplx"}).has_value());
  EXPECT_FALSE(paper.find({"1", "gemma-2-2b", "omniquant", "matquant", "int4", "task_avg"}).has_value());
}

TEST(ReportPaperNumbers, MalformedLinesAreNamed) {
  EXPECT_EQ(error_of("a,b\n"), "paper.csv:1: expected the header table,model,base,variant,precision,column,value");
  EXPECT_EQ(error_of(std::string(kHeader) + "1,m,qat,baseline,int4,task_avg,6x.1\n"),
            "paper.csv:2: value: '6x.1' is not a number or '-'");
  EXPECT_EQ(error_of(std::string(kHeader) + "1,m,qat,baseline,int4,task_avg\n"), "paper.csv:2: expected 7 fields, got 6");
  EXPECT_EQ(error_of(std::string(kHeader) + "1,m,qat,baseline,,task_avg,1\n"), "paper.csv:2: precision: must not be empty");
  EXPECT_EQ(error_of(std::string(kHeader) + "1,m,qat,baseline,int4,task_avg,1\n1,m,qat,baseline,int4,task_avg,2\n"),
            "paper.csv:3: duplicate entry (first at line 2)");
}

TEST(ReportCsvReader, QuotesAndLines) {
  const auto records = parse_csv("a,\"b,\"\"c\"\"\"\n\n\"multi\nline\",x\r\nlast", "t.csv");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].fields, (std::vector<std::string>{"a", "b,\"c\""}));
  EXPECT_EQ(records[1].fields, (std::vector<std::string>{"multi\nline", "x"}));
  EXPECT_EQ(records[1].line, 3);
  EXPECT_EQ(records[2].fields, (std::vector<std::string>{"last"}));
  EXPECT_EQ(records[2].line, 5);
  EXPECT_THROW(parse_csv("\"open", "t.csv"), Error);
}

}  // namespace
}  // namespace matquant::report
