#include "store/query.h"

#include "common/error.h"
#include "store/database.h"

#include <sqlite3.h>

#include <charconv>

namespace matquant::store {

std::string format_real(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

QueryResult run_query(const Database& db, const std::string& sql, const std::vector<std::string>& params) {
  Statement statement = db.prepare(sql);
  if (!statement.read_only()) {
    throw_invalid("refusing to run a statement that would modify the database: \"" + sql + "\"");
  }
  for (size_t i = 0; i < params.size(); ++i) statement.bind(int(i) + 1, params[i]);
  QueryResult result;
  for (int c = 0; c < statement.column_count(); ++c) result.columns.push_back(statement.column_name(c));
  while (statement.step()) {
    std::vector<Cell> row;
    for (int c = 0; c < statement.column_count(); ++c) {
      switch (statement.column_type(c)) {
        case SQLITE_NULL:
          row.push_back({CellType::kNull, ""});
          break;
        case SQLITE_INTEGER:
          row.push_back({CellType::kInteger, std::to_string(statement.column_int(c))});
          break;
        case SQLITE_FLOAT:
          row.push_back({CellType::kReal, format_real(statement.column_double(c))});
          break;
        case SQLITE_BLOB: {
          const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(statement.handle(), c));
          const int size = sqlite3_column_bytes(statement.handle(), c);
          static const char* const kHex = "0123456789abcdef";
          std::string hex;
          for (int i = 0; i < size; ++i) {
            hex += kHex[bytes[i] >> 4];
            hex += kHex[bytes[i] & 15];
          }
          row.push_back({CellType::kBlob, hex});
          break;
        }
        default:
          row.push_back({CellType::kText, statement.column_text(c)});
      }
    }
    result.rows.push_back(std::move(row));
  }
  return result;
}

}  // namespace matquant::store
