#include "store/statement.h"

#include "store/sqlite_error.h"

#include <sqlite3.h>

#include <utility>

namespace matquant::store {
namespace {

// Long SQL is cut in messages so an error stays one readable line.
std::string abbreviated(const std::string& sql) {
  constexpr size_t kMaxShown = 120;
  std::string one_line;
  for (char c : sql) one_line += (c == '\n' || c == '\t') ? ' ' : c;
  return one_line.size() <= kMaxShown ? one_line : one_line.substr(0, kMaxShown) + "...";
}

}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db), sql_(sql) {
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &stmt_, &tail);
  if (rc != SQLITE_OK) throw_sqlite(db, rc, "cannot prepare SQL \"" + abbreviated(sql) + "\"");
  if (stmt_ == nullptr) throw_invalid("empty SQL statement: \"" + abbreviated(sql) + "\"");
  // Anything after the first statement must be whitespace, comments or empty statements (";"):
  // preparing the rest piece by piece yields no statement exactly then.
  const char* end = sql.c_str() + sql.size();
  while (tail != nullptr && tail < end) {
    sqlite3_stmt* next = nullptr;
    const char* next_tail = nullptr;
    const int rest_rc = sqlite3_prepare_v2(db, tail, int(end - tail), &next, &next_tail);
    sqlite3_finalize(next);
    if (rest_rc != SQLITE_OK || next != nullptr) {
      sqlite3_finalize(stmt_);
      stmt_ = nullptr;
      throw_invalid("only one SQL statement is allowed, found more in \"" + abbreviated(sql) + "\"");
    }
    if (next_tail == tail) break;
    tail = next_tail;
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), sql_(std::move(other.sql_)) {}

void Statement::fail(const std::string& what) const {
  throw_sqlite(db_, sqlite3_errcode(db_), what + " \"" + abbreviated(sql_) + "\"");
}

Statement& Statement::bind(int index, const std::string& value) {
  if (sqlite3_bind_text(stmt_, index, value.data(), int(value.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
    fail("cannot bind parameter " + std::to_string(index) + " of");
  }
  return *this;
}

Statement& Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail("cannot bind parameter " + std::to_string(index) + " of");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) fail("cannot bind parameter " + std::to_string(index) + " of");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<double>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) fail("cannot bind parameter " + std::to_string(index) + " of");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Reset so the statement can be reused after a handled error (e.g. a busy retry).
  const std::string message = sqlite3_errmsg(db_);
  sqlite3_reset(stmt_);
  throw Error(error_code_for_sqlite(rc), "SQL failed: " + message + " in \"" + abbreviated(sql_) + "\"");
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

std::string Statement::column_name(int index) const {
  const char* name = sqlite3_column_name(stmt_, index);
  return name != nullptr ? name : "";
}

int Statement::column_type(int index) const { return sqlite3_column_type(stmt_, index); }

bool Statement::column_is_null(int index) const { return column_type(index) == SQLITE_NULL; }

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), size_t(sqlite3_column_bytes(stmt_, index)));
}

std::optional<std::string> Statement::column_optional_text(int index) const {
  if (column_is_null(index)) return std::nullopt;
  return column_text(index);
}

int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

double Statement::column_double(int index) const { return sqlite3_column_double(stmt_, index); }

bool Statement::read_only() const { return sqlite3_stmt_readonly(stmt_) != 0; }

}  // namespace matquant::store
