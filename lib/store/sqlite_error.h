#pragma once
// Maps SQLite result codes onto matquant error codes: a locked, missing or corrupt file is an
// I/O problem; a bad query or a refused write is the user's input.
#include "common/error.h"

#include <string>

struct sqlite3;

namespace matquant::store {

ErrorCode error_code_for_sqlite(int sqlite_rc);

// Throws matquant::Error with "context: sqlite message" using the connection's last error.
[[noreturn]] void throw_sqlite(sqlite3* db, int sqlite_rc, const std::string& context);

}  // namespace matquant::store
