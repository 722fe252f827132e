#pragma once
// Run specs outside a sweep (`matquant train`, `matquant eval`): read from a JSON file, or built
// from command-line values, then checked and completed by the same field table as sweeps
// (lib/sweep/run_spec), so a single run and a sweep run of the same spec do the same thing.
#include <nlohmann/json.hpp>

#include <string>

namespace matquant::apps {

// The file's JSON object, not yet checked; a missing file is kNotFound, bad JSON kInvalidInput.
nlohmann::json read_raw_run_spec(const std::string& path);

// Checks `raw` and fills in every default; all problems at once as one kInvalidInput naming `origin`.
nlohmann::json complete_run_spec(const nlohmann::json& raw, const std::string& origin);

inline nlohmann::json read_run_spec(const std::string& path) { return complete_run_spec(read_raw_run_spec(path), path); }

}  // namespace matquant::apps
