#pragma once
// Shared helpers for lib/store tests: a scratch directory, result files and a dump of every
// table to compare databases before and after an operation.
#include "store/database.h"
#include "store/query.h"
#include "temp_dir.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace matquant::store::testing {

using matquant::testing::TempDir;
using matquant::testing::write_text;

// A finished eval job's result file as the worker writes it (docs/contracts.md).
inline nlohmann::json sample_result(const std::string& run_key = "run-a", const std::string& job_key = "job-a-int4") {
  return {{"format_version", 1},
          {"run_key", run_key},
          {"job_key", job_key},
          {"job", "eval"},
          {"status", "done"},
          {"spec", {{"name", "tiny-matquant"}, {"model", "builtin:tiny-llama"}, {"base", "qat"},
                    {"variant", "matquant"}, {"bits", {8, 4, 2}}, {"train", {{"steps", 200}, {"learning_rate", 1e-5}}}}},
          {"precision", "int4"},
          {"metrics", {{{"precision", "int4"}, {"task", "validation"}, {"metric", "log_pplx"}, {"value", 2.83}},
                       {{"precision", "int4"}, {"task", "validation"}, {"metric", "pplx"}, {"value", 16.94}}}},
          {"timings", {{"seconds", 12.5}, {"tokens_per_s", 1.2e4}}},
          {"device", "cpu"},
          {"host", "test-host"},
          {"versions", {{"matquant", "0.1.0"}, {"torch", "2.11.0"}}},
          {"git_sha", "abc123"},
          {"artifacts", nlohmann::json::array()},
          {"started_at", "2026-11-23T22:37:00Z"},
          {"finished_at", "2026-11-23T22:38:00Z"}};
}

// Every row of every table, as text: equal dumps mean an unchanged database.
inline std::string dump_tables(const Database& db) {
  std::string out;
  const QueryResult tables = run_query(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  for (const auto& row : tables.rows) {
    const std::string table = row[0].text;
    out += "== " + table + "\n";
    const QueryResult rows = run_query(db, "SELECT * FROM \"" + table + "\"");
    std::vector<std::string> lines;  // sorted, so row order (rowids) does not matter
    for (const auto& r : rows.rows) {
      std::string line;
      for (const auto& cell : r) line += (cell.is_null() ? std::string("NULL") : cell.text) + "|";
      lines.push_back(line);
    }
    std::sort(lines.begin(), lines.end());
    for (const auto& line : lines) out += line + "\n";
  }
  return out;
}

}  // namespace matquant::store::testing
