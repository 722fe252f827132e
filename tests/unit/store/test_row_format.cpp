// Query rows as an aligned table, CSV and JSON, with NULL kept distinct.
#include "common/error.h"
#include "store/row_format.h"

#include <gtest/gtest.h>

namespace matquant::store {
namespace {

QueryResult sample_rows() {
  QueryResult result;
  result.columns = {"name", "precision", "value"};
  result.rows = {{{CellType::kText, "tiny, matquant"}, {CellType::kText, "int4"}, {CellType::kReal, "2.83"}},
                 {{CellType::kText, "say \"hi\""}, {CellType::kNull, ""}, {CellType::kInteger, "12"}},
                 {{CellType::kText, ""}, {CellType::kText, "int2"}, {CellType::kNull, ""}}};
  return result;
}

TEST(StoreRowFormat, TextTable) {
  EXPECT_EQ(format_text_table(sample_rows()),
            "name            precision  value\n"
            "--------------  ---------  -----\n"
            "tiny, matquant  int4        2.83\n"
            "say \"hi\"        NULL          12\n"
            "                int2        NULL\n"
            "(3 rows)\n");
}

TEST(StoreRowFormat, Csv) {
  EXPECT_EQ(format_csv(sample_rows()),
            "name,precision,value\n"
            "\"tiny, matquant\",int4,2.83\n"
            "\"say \"\"hi\"\"\",,12\n"
            ",int2,\n");
}

TEST(StoreRowFormat, Json) {
  EXPECT_EQ(format_json(sample_rows()),
            "[\n"
            "  {\n    \"name\": \"tiny, matquant\",\n    \"precision\": \"int4\",\n    \"value\": 2.83\n  },\n"
            "  {\n    \"name\": \"say \\\"hi\\\"\",\n    \"precision\": null,\n    \"value\": 12\n  },\n"
            "  {\n    \"name\": \"\",\n    \"precision\": \"int2\",\n    \"value\": null\n  }\n"
            "]\n");
}

TEST(StoreRowFormat, EmptyResult) {
  QueryResult result;
  result.columns = {"a"};
  EXPECT_EQ(format_text_table(result), "a\n-\n(0 rows)\n");
  EXPECT_EQ(format_json(result), "[]\n");
}

TEST(StoreRowFormat, ParsesFormatNames) {
  EXPECT_EQ(parse_row_format("csv"), RowFormat::kCsv);
  EXPECT_THROW(parse_row_format("xml"), Error);
}

TEST(StoreRowFormat, RealsRoundTrip) {
  EXPECT_EQ(format_real(0.1), "0.1");
  EXPECT_EQ(format_real(2.83), "2.83");
  EXPECT_EQ(format_real(1e-5), "1e-05");
  EXPECT_EQ(format_real(12.0), "12");
}

}  // namespace
}  // namespace matquant::store
