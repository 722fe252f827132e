#pragma once
// Read-only queries returning plain rows: column names and cell values as text, with SQL NULL
// kept distinct from the empty string and the storage type kept for JSON output.
#include <string>
#include <vector>

namespace matquant::store {

class Database;

enum class CellType { kNull, kInteger, kReal, kText, kBlob };

struct Cell {
  CellType type = CellType::kNull;
  std::string text;  // integers and reals in shortest round-trip form; blobs as hex
  bool is_null() const { return type == CellType::kNull; }
  bool is_number() const { return type == CellType::kInteger || type == CellType::kReal; }
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

// Runs one read-only statement with `?` parameters bound as text. Refuses statements that would
// write (checked by SQLite before running), several statements in one string, and, on a
// read-only handle, ATTACH and setting PRAGMAs.
QueryResult run_query(const Database& db, const std::string& sql, const std::vector<std::string>& params = {});

// Shortest text that reads back as the same double ("0.1", "2.83", "1e-05").
std::string format_real(double value);

}  // namespace matquant::store
