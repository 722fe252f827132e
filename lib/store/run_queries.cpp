#include "store/run_queries.h"

#include "common/error.h"
#include "store/database.h"

#include <nlohmann/json.hpp>

namespace matquant::store {
namespace {

constexpr size_t kMinimumKeyPrefix = 6;

std::vector<std::string> first_column(const QueryResult& result) {
  std::vector<std::string> values;
  for (const auto& row : result.rows) values.push_back(row[0].text);
  return values;
}

}  // namespace

QueryResult list_runs(const Database& db, const RunListFilter& filter) {
  return run_query(db,
                   "SELECT r.run_key, r.name, r.sweep, r.status, "
                   "  (SELECT count(*) FROM run_jobs rj JOIN jobs j ON j.job_key = rj.job_key "
                   "   WHERE rj.run_key = r.run_key AND j.status = 'done') || '/' || "
                   "  (SELECT count(*) FROM run_jobs rj WHERE rj.run_key = r.run_key) AS jobs, "
                   "  r.created_at, r.finished_at "
                   "FROM runs r WHERE (?1 = '' OR r.sweep = ?1) AND (?2 = '' OR r.status = ?2) "
                   "ORDER BY r.created_at DESC, r.run_key",
                   {filter.sweep, filter.status});
}

std::string resolve_run(const Database& db, const std::string& key_or_name) {
  if (key_or_name.empty()) throw_usage("give a run key or name");
  const auto exact = first_column(run_query(db, "SELECT run_key FROM runs WHERE run_key = ?", {key_or_name}));
  if (!exact.empty()) return exact.front();
  std::vector<std::string> matches;
  if (key_or_name.size() >= kMinimumKeyPrefix) {
    matches = first_column(run_query(db, "SELECT run_key FROM runs WHERE substr(run_key, 1, length(?1)) = ?1 ORDER BY run_key",
                                     {key_or_name}));
  }
  if (matches.empty()) {
    matches = first_column(run_query(db, "SELECT run_key FROM runs WHERE name = ? ORDER BY run_key", {key_or_name}));
  }
  if (matches.empty()) throw Error(ErrorCode::kNotFound, "no run with key or name '" + key_or_name + "' in " + db.path());
  if (matches.size() > 1) {
    std::string list;
    for (const auto& key : matches) list += (list.empty() ? "" : ", ") + key.substr(0, 12);
    throw_invalid("'" + key_or_name + "' matches " + std::to_string(matches.size()) + " runs (" + list +
                  "); give more of the run key");
  }
  return matches.front();
}

RunDetails show_run(const Database& db, const std::string& key_or_name) {
  const std::string key = resolve_run(db, key_or_name);
  RunDetails details;
  // One run: shown as field/value lines, since spec_json alone is wider than a terminal.
  const QueryResult run = run_query(db, "SELECT * FROM runs WHERE run_key = ?", {key});
  details.run.columns = {"field", "value"};
  for (size_t c = 0; c < run.columns.size(); ++c) details.run.rows.push_back({{CellType::kText, run.columns[c]}, run.rows.at(0)[c]});
  details.params = run_query(db, "SELECT key, value FROM params WHERE run_key = ? ORDER BY key", {key});
  details.jobs = run_query(db,
                           "SELECT j.job_key, j.kind, j.precision, j.status, j.attempts, j.seconds, j.finished_at, "
                           "j.error FROM run_jobs rj JOIN jobs j ON j.job_key = rj.job_key WHERE rj.run_key = ? "
                           "ORDER BY j.kind DESC, j.precision",
                           {key});
  details.metrics = run_query(db,
                              "SELECT m.precision, m.task, m.metric, m.value FROM run_jobs rj "
                              "JOIN metrics m ON m.job_key = rj.job_key WHERE rj.run_key = ? "
                              "ORDER BY m.precision, m.task, m.metric",
                              {key});
  details.artifacts = run_query(db,
                                "SELECT a.job_key, a.kind, a.path FROM run_jobs rj "
                                "JOIN artifacts a ON a.job_key = rj.job_key WHERE rj.run_key = ? ORDER BY a.kind, a.path",
                                {key});
  return details;
}

std::string format_run_details(const RunDetails& details, RowFormat format) {
  const std::vector<std::pair<std::string, const QueryResult*>> parts = {
      {"run", &details.run}, {"params", &details.params}, {"jobs", &details.jobs},
      {"metrics", &details.metrics}, {"artifacts", &details.artifacts}};
  if (format == RowFormat::kCsv) throw_usage("results show prints table or json, not csv");
  if (format == RowFormat::kJson) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [name, rows] : parts) out[name] = nlohmann::ordered_json::parse(format_json(*rows));
    return out.dump(2) + "\n";
  }
  std::string out;
  for (const auto& [name, rows] : parts) out += (out.empty() ? "" : "\n") + std::string("== ") + name + "\n" + format_text_table(*rows);
  return out;
}

}  // namespace matquant::store
