#pragma once
// Ingesting a worker's result.json: the only way results enter the database. Validation happens
// before the write transaction; the transaction upserts the run and job, replaces that job's
// metrics and artifacts, and logs an event. Ingesting the same file again changes nothing.
#include <string>

namespace matquant::store {

class Database;

struct IngestResult {
  std::string run_key;
  std::string job_key;
  std::string status;     // the job's status from the file
  size_t metrics = 0;     // metric rows now stored for the job
  bool changed = false;   // false when the stored job already held this exact result
};

// `sweep_name` ("" for none) is recorded on the run if it has no sweep yet. Throws (and writes
// nothing) for a missing, corrupt, partial or truncated file.
IngestResult ingest_result_file(Database& db, const std::string& result_json_path, const std::string& sweep_name);

}  // namespace matquant::store
