#pragma once
// The canned read-only queries behind `matquant results list|show`.
#include "store/query.h"
#include "store/row_format.h"

#include <string>

namespace matquant::store {

class Database;

struct RunListFilter {
  std::string sweep;   // "" = any
  std::string status;  // "" = any
};

// One row per run, newest first: run_key, name, sweep, status, jobs ("done/total"), created_at,
// finished_at.
QueryResult list_runs(const Database& db, const RunListFilter& filter);

// Resolves a full run key, a unique run key prefix (at least 6 characters) or a unique run name.
// Throws kNotFound when nothing matches and kInvalidInput, listing the candidates, when several do.
std::string resolve_run(const Database& db, const std::string& key_or_name);

struct RunDetails {
  QueryResult run;      // field, value: one line per column of the runs table
  QueryResult params;   // key, value
  QueryResult jobs;     // job_key, kind, precision, status, attempts, seconds, finished_at, error
  QueryResult metrics;  // precision, task, metric, value
  QueryResult artifacts;
};

RunDetails show_run(const Database& db, const std::string& key_or_name);

// Text: each part as a titled table; JSON: one object with a list per part. CSV is refused.
std::string format_run_details(const RunDetails& details, RowFormat format);

}  // namespace matquant::store
