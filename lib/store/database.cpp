#include "store/database.h"

#include "store/schema.h"
#include "store/sqlite_error.h"

#include <boost/filesystem.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <chrono>
#include <ctime>
#include <utility>

namespace fs = boost::filesystem;

namespace matquant::store {
namespace {

// PRAGMAs a read-only query may use: they only report (schema and table introspection).
bool is_reporting_pragma(const char* name, const char* argument) {
  if (name == nullptr) return false;
  const std::string pragma = name;
  static const char* const kAllowed[] = {"table_info", "table_xinfo", "table_list", "index_list",
                                         "index_info", "index_xinfo", "foreign_key_list",
                                         "database_list", "collation_list", "function_list",
                                         "pragma_list", "module_list", "compile_options",
                                         "integrity_check", "quick_check"};
  for (const char* allowed : kAllowed) {
    if (pragma == allowed) return true;
  }
  // Reading (not setting) these is harmless.
  return argument == nullptr && (pragma == "user_version" || pragma == "schema_version" ||
                                 pragma == "journal_mode" || pragma == "query_only" ||
                                 pragma == "foreign_keys" || pragma == "page_count");
}

// Authorizer for read-only handles: reading is allowed, anything else is refused before it runs.
int read_only_authorizer(void*, int action, const char* arg1, const char* arg2, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_PRAGMA:
      return is_reporting_pragma(arg1, arg2) ? SQLITE_OK : SQLITE_DENY;
    default:  // INSERT, UPDATE, DELETE, CREATE/DROP, ATTACH/DETACH, TRANSACTION, ...
      return SQLITE_DENY;
  }
}

sqlite3* open_handle(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw Error(ErrorCode::kIo, "cannot open results database " + path + ": " + detail);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return db;
}

// Every SQLite database file starts with these 16 bytes (sqlite.org/fileformat.html, 1.3.1).
constexpr char kSqliteHeader[] = "SQLite format 3";  // and its terminating NUL: 16 bytes

std::string not_ours(const std::string& path, const std::string& why) {
  return path + " is not a matquant results database (" + why + ")";
}

// Before SQLite touches the file: a non-empty file without the SQLite header is refused, so
// nothing is written to a file we cannot open as our own. A 0-byte file is a new database.
void refuse_non_sqlite_file(const std::string& path) {
  boost::system::error_code ec;
  if (!fs::is_regular_file(path, ec)) return;
  const auto size = fs::file_size(path, ec);
  if (ec || size == 0) return;
  char header[sizeof kSqliteHeader] = {};
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return;  // SQLite reports why it cannot open it
  const size_t read = std::fread(header, 1, sizeof header, file);
  std::fclose(file);
  if (read != sizeof header || std::memcmp(header, kSqliteHeader, sizeof header) != 0) {
    throw Error(ErrorCode::kInvalidInput, not_ours(path, "not an SQLite file; it was left as it is"));
  }
}

// True when the schema has tables but not ours (schema_version): another program's database.
// Throws kInvalidInput for a file SQLite cannot read as a database.
bool has_tables(sqlite3* db, const std::string& path, bool* has_schema_version) {
  sqlite3_stmt* statement = nullptr;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT count(*), coalesce(sum(name = 'schema_version'), 0) FROM sqlite_master "
                              "WHERE type = 'table'",
                              -1, &statement, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(statement);
  if (rc != SQLITE_ROW) {
    const std::string detail = sqlite3_errmsg(db);
    sqlite3_finalize(statement);
    throw Error(ErrorCode::kInvalidInput, not_ours(path, detail));
  }
  const bool any = sqlite3_column_int64(statement, 0) > 0;
  *has_schema_version = sqlite3_column_int64(statement, 1) > 0;
  sqlite3_finalize(statement);
  return any;
}

}  // namespace

struct Database::TimeLimit {
  std::chrono::steady_clock::time_point deadline;
  bool exceeded = false;
};

Database::Database(sqlite3* db, std::string path, bool read_only)
    : db_(db), path_(std::move(path)), read_only_(read_only) {}

void Database::set_time_limit(double seconds) {
  if (seconds <= 0) {
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    time_limit_.reset();
    return;
  }
  if (!time_limit_) time_limit_ = std::make_unique<TimeLimit>();
  time_limit_->deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  time_limit_->exceeded = false;
  sqlite3_progress_handler(
      db_, 1000,
      [](void* data) -> int {
        auto* limit = static_cast<TimeLimit*>(data);
        if (std::chrono::steady_clock::now() < limit->deadline) return 0;
        limit->exceeded = true;
        return 1;  // SQLite stops the statement with SQLITE_INTERRUPT
      },
      time_limit_.get());
}

bool Database::time_limit_exceeded() const { return time_limit_ && time_limit_->exceeded; }

Database Database::open(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  boost::system::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create directory " + parent.string() + ": " + ec.message());
  refuse_non_sqlite_file(path);
  Database db(open_handle(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX),
              path, false);
  bool ours = false;
  if (has_tables(db.db_, path, &ours) && !ours) {
    throw Error(ErrorCode::kInvalidInput, not_ours(path, "an SQLite file with other tables and no schema_version"));
  }
  // WAL lets readers (reports, queries) run while the single writer ingests.
  {
    Statement journal = db.prepare("PRAGMA journal_mode=WAL");
    if (!journal.step() || journal.column_text(0) != "wal") {
      throw Error(ErrorCode::kIo, "cannot switch " + path + " to WAL journal mode");
    }
  }  // finalised here: an unfinished statement would block the migration's COMMIT
  db.execute_script("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;");
  migrate(db);
  return db;
}

Database Database::open_read_only(const std::string& path) {
  if (!fs::exists(path)) throw Error(ErrorCode::kNotFound, "no results database at " + path);
  Database db(open_handle(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX), path, true);
  // Reading commands never create: an empty (0-byte) or foreign file is not a results database.
  bool ours = false;
  has_tables(db.db_, path, &ours);
  if (!ours) throw Error(ErrorCode::kInvalidInput, not_ours(path, "no schema_version table: empty or another program's"));
  db.execute_script("PRAGMA query_only=1;");
  sqlite3_db_config(db.db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_set_authorizer(db.db_, &read_only_authorizer, nullptr);
  return db;
}

Database::~Database() { sqlite3_close(db_); }

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      read_only_(other.read_only_),
      time_limit_(std::move(other.time_limit_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    read_only_ = other.read_only_;
    time_limit_ = std::move(other.time_limit_);
  }
  return *this;
}

void Database::execute_script(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    const std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw Error(error_code_for_sqlite(rc), path_ + ": " + detail);
  }
}

void Database::write_transaction(const std::function<void()>& body) {
  if (read_only_) throw_invalid(path_ + ": the database is open read-only");
  execute_script("BEGIN IMMEDIATE");
  try {
    body();
    execute_script("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace matquant::store
