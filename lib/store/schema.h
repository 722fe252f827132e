#pragma once
// Versioned schema migrations. Each migration is applied once, in order, inside one write
// transaction, and recorded in schema_version; reopening a migrated database changes nothing.
// docs/results.md documents the tables.
#include <string>
#include <vector>

namespace matquant::store {

class Database;

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// All migrations, oldest first. Never edit a released one: append a new version instead.
const std::vector<Migration>& migrations();

// The highest version applied to `db` (0 for a new file).
int schema_version(const Database& db);

// Applies the migrations newer than the database's version. Refuses a database written by a
// newer matquant (its version is above the last migration known here).
void migrate(Database& db);

}  // namespace matquant::store
