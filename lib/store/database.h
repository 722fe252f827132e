#pragma once
// The results database (docs/results.md): one SQLite file, WAL journal, 10 s busy timeout,
// foreign keys on. Writers take the lock up front (BEGIN IMMEDIATE) so two writers queue on the
// busy timeout instead of failing half-way; read-only handles cannot modify the file at all.
#include "store/statement.h"

#include <functional>
#include <string>

struct sqlite3;

namespace matquant::store {

inline constexpr int kBusyTimeoutMs = 10'000;
inline constexpr const char* kDefaultDatabasePath = "results/matquant.sqlite";

class Database {
 public:
  // Opens (creating the file and its parent directory if missing) and migrates the schema to
  // the newest version.
  static Database open(const std::string& path);
  // Opens an existing database with SQLITE_OPEN_READONLY and PRAGMA query_only=1; an authorizer
  // additionally refuses ATTACH/DETACH and PRAGMAs that could change settings. Throws kNotFound
  // if the file does not exist.
  static Database open_read_only(const std::string& path);

  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Statement prepare(const std::string& sql) const { return Statement(db_, sql); }
  // Runs SQL that may hold several statements (schema scripts). Not for user input.
  void execute_script(const std::string& sql);
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows if it throws.
  void write_transaction(const std::function<void()>& body);

  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  Database(sqlite3* db, std::string path, bool read_only);

  sqlite3* db_ = nullptr;
  std::string path_;
  bool read_only_ = false;
};

// The current UTC time as ISO 8601 ("2026-11-23T22:37:00Z"), the format of every time column.
std::string utc_now();

}  // namespace matquant::store
