#pragma once
// A prepared SQLite statement with RAII finalisation and typed binding. Errors throw
// matquant::Error naming the SQL that failed, so a bad query is one clear line.
#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace matquant::store {

class Statement {
 public:
  // Prepares exactly one statement; trailing SQL other than whitespace or comments is rejected
  // (a second statement would otherwise be silently ignored).
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;

  // Binding is 1-based, as in SQLite. std::nullopt binds NULL.
  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, const char* value) { return bind(index, std::string(value)); }
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, int value) { return bind(index, int64_t{value}); }
  Statement& bind(int index, double value);
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind(int index, const std::optional<double>& value);
  Statement& bind_null(int index);

  // Returns true while a row is available; false when done.
  bool step();
  // Runs a statement that returns no rows (or ignores them) and resets it for reuse.
  void run();
  void reset();

  int column_count() const;
  std::string column_name(int index) const;
  int column_type(int index) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
  bool column_is_null(int index) const;
  std::string column_text(int index) const;
  std::optional<std::string> column_optional_text(int index) const;
  int64_t column_int(int index) const;
  double column_double(int index) const;

  bool read_only() const;
  const std::string& sql() const { return sql_; }
  sqlite3_stmt* handle() const { return stmt_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

}  // namespace matquant::store
