#include "store/database.h"

#include "store/schema.h"
#include "store/sqlite_error.h"

#include <boost/filesystem.hpp>
#include <sqlite3.h>

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
                                         "pragma_list", "module_list", "compile_options"};
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

}  // namespace

Database::Database(sqlite3* db, std::string path, bool read_only)
    : db_(db), path_(std::move(path)), read_only_(read_only) {}

Database Database::open(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  boost::system::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create directory " + parent.string() + ": " + ec.message());
  Database db(open_handle(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX),
              path, false);
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
  db.execute_script("PRAGMA query_only=1;");
  sqlite3_db_config(db.db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_set_authorizer(db.db_, &read_only_authorizer, nullptr);
  return db;
}

Database::~Database() { sqlite3_close(db_); }

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)), read_only_(other.read_only_) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    read_only_ = other.read_only_;
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
