#pragma once
// Query rows as text for people (an aligned table) and for tools (CSV, JSON).
#include "store/query.h"

#include <string>

namespace matquant::store {

enum class RowFormat { kTable, kCsv, kJson };

// "table" | "csv" | "json"; throws kUsage naming the accepted values otherwise.
RowFormat parse_row_format(const std::string& name);

// Columns padded to their widest cell, numbers right-aligned, NULL shown as "NULL", then
// "(N rows)".
std::string format_text_table(const QueryResult& result);
// RFC 4180: a header line, fields quoted when they hold a comma, quote or newline; NULL is an
// empty field.
std::string format_csv(const QueryResult& result);
// A list of objects, one per row; numbers stay numbers, NULL is null.
std::string format_json(const QueryResult& result);

std::string format_rows(const QueryResult& result, RowFormat format);

}  // namespace matquant::store
