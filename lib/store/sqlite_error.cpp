#include "store/sqlite_error.h"

#include <sqlite3.h>

namespace matquant::store {

ErrorCode error_code_for_sqlite(int sqlite_rc) {
  switch (sqlite_rc & 0xff) {  // primary code; extended codes carry detail in the high bits
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return ErrorCode::kIo;
    default:
      return ErrorCode::kInvalidInput;
  }
}

void throw_sqlite(sqlite3* db, int sqlite_rc, const std::string& context) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(sqlite_rc);
  throw Error(error_code_for_sqlite(sqlite_rc), context + ": " + detail);
}

}  // namespace matquant::store
