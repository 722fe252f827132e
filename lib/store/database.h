#pragma once
// The results database (docs/results.md): one SQLite file, WAL journal, 10 s busy timeout,
// foreign keys on. Writers take the lock up front (BEGIN IMMEDIATE) so two writers queue on the
// busy timeout instead of failing half-way; read-only handles cannot modify the file at all.
#include "store/statement.h"

#include <functional>
#include <memory>
#include <string>

struct sqlite3;

namespace matquant::store {

inline constexpr int kBusyTimeoutMs = 10'000;
inline constexpr const char* kDefaultDatabasePath = "results/matquant.sqlite";

class Database {
 public:
  // Opens (creating the file and its parent directory if missing; a 0-byte file counts as new)
  // and migrates the schema to the newest version. A file that is not SQLite, or an SQLite file
  // of another program, is refused with kInvalidInput before anything is written to it.
  static Database open(const std::string& path);
  // Opens an existing database with SQLITE_OPEN_READONLY and PRAGMA query_only=1; an authorizer
  // additionally refuses ATTACH/DETACH and PRAGMAs that could change settings. Throws kNotFound
  // if the file does not exist, kInvalidInput ("not a matquant results database") for a file
  // without our schema (0-byte, garbage, or another program's).
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

  // Stops any statement of this handle once `seconds` have passed from now (checked every 1,000
  // SQLite VM steps by sqlite3_progress_handler; the statement fails with "interrupted"); 0 or
  // less removes the limit. For `matquant query --timeout`: a recursive CTE can run forever.
  void set_time_limit(double seconds);
  // True once a statement was stopped by the time limit.
  bool time_limit_exceeded() const;

  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  Database(sqlite3* db, std::string path, bool read_only);

  struct TimeLimit;  // the deadline the progress handler checks (heap: survives moves)

  sqlite3* db_ = nullptr;
  std::string path_;
  bool read_only_ = false;
  std::unique_ptr<TimeLimit> time_limit_;
};

// The current UTC time as ISO 8601 ("2026-11-23T22:37:00Z"), the format of every time column.
std::string utc_now();

}  // namespace matquant::store
