#include "sweep/sweep_views.h"

#include "common/error.h"
#include "store/database.h"
#include "sweep/job_graph.h"
#include "sweep/spec_fields.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace matquant::sweep {
namespace {

using nlohmann::json;

std::string cell_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) out += (out.empty() ? "" : ",") + cell_text(item);
    return out;
  }
  return value.dump();
}

std::string pad(const std::string& text, size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string render_rows(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::ostringstream out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += (c ? "  " : "") + (c + 1 < row.size() ? pad(row[c], widths[c]) : row[c]);
    out << line << "\n";
  }
  return out.str();
}

}  // namespace

std::string render_plan_table(const SweepPlan& plan) {
  // Columns: the fields whose value differs between runs (always base, variant and bits).
  std::vector<std::string> varying = {"base", "variant", "bits"};
  for (const auto& field : spec_fields()) {
    if (field.key == "name" || std::find(varying.begin(), varying.end(), field.key) != varying.end()) continue;
    std::set<std::string> values;
    for (const auto& run : plan.runs) values.insert(spec_at(run.spec, field.key).dump());
    if (values.size() > 1) varying.push_back(field.key);
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"#", "name"};
  for (const auto& key : varying) header.push_back(key);
  header.push_back("run key");
  rows.push_back(header);
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    std::vector<std::string> row = {std::to_string(i + 1), plan.runs[i].name};
    for (const auto& key : varying) {
      std::string text = cell_text(spec_at(plan.runs[i].spec, key));
      // Long lists (Mix'n'Match precisions) would make every row a page wide.
      const auto& value = spec_at(plan.runs[i].spec, key);
      if (text.size() > 40) text = text.substr(0, 34) + (value.is_array() ? "...(" + std::to_string(value.size()) + ")" : "...");
      row.push_back(text);
    }
    row.push_back(plan.runs[i].run_key.substr(0, 12));
    rows.push_back(row);
  }
  const JobGraph graph = build_job_graph(plan.runs);
  size_t trains = 0, uses = 0;
  for (const auto& job : graph.jobs) {
    trains += job.kind == "train";
    uses += job.runs.size();
  }
  std::ostringstream out;
  out << "sweep " << plan.definition.name << " (" << plan.definition.file << ")\n\n" << render_rows(rows) << "\n";
  out << plan.runs.size() << " runs; " << graph.jobs.size() << " jobs (" << trains << " training, "
      << graph.jobs.size() - trains << " evaluation), " << uses - graph.jobs.size() << " job uses shared between runs";
  if (plan.excluded) out << "; " << plan.excluded << " points excluded";
  if (plan.duplicates) out << "; " << plan.duplicates << " duplicate points merged";
  out << "\n";
  return out.str();
}

std::string render_sweep_status(const store::Database& db, const std::string& sweep_name) {
  auto exists = db.prepare("SELECT file FROM sweeps WHERE name = ?");
  exists.bind(1, sweep_name);
  if (!exists.step()) throw Error(ErrorCode::kNotFound, "no sweep named '" + sweep_name + "' in " + db.path());
  std::ostringstream out;
  out << "sweep " << sweep_name << "\n";
  std::map<std::string, int64_t> run_counts;
  auto runs = db.prepare("SELECT status, count(*) FROM runs WHERE sweep = ? GROUP BY status");
  runs.bind(1, sweep_name);
  while (runs.step()) run_counts[runs.column_text(0)] = runs.column_int(1);
  auto jobs = db.prepare(
      "SELECT j.kind, j.status, count(DISTINCT j.job_key) FROM runs r JOIN run_jobs rj ON rj.run_key = r.run_key "
      "JOIN jobs j ON j.job_key = rj.job_key WHERE r.sweep = ? GROUP BY j.kind, j.status");
  jobs.bind(1, sweep_name);
  std::map<std::string, std::map<std::string, int64_t>> job_counts;
  while (jobs.step()) job_counts[jobs.column_text(0)][jobs.column_text(1)] = jobs.column_int(2);
  const auto line = [&](const std::string& what, const std::map<std::string, int64_t>& counts) {
    int64_t total = 0;
    std::string parts;
    for (const auto& [status, n] : counts) {
      total += n;
      parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + status;
    }
    out << "  " << pad(what, 16) << total << (parts.empty() ? "" : " (" + parts + ")") << "\n";
  };
  line("runs", run_counts);
  line("training jobs", job_counts["train"]);
  line("evaluation jobs", job_counts["eval"]);
  if (job_counts["train"].count("interrupted") + job_counts["eval"].count("interrupted") > 0) {
    out << "interrupted jobs (stopped by SIGINT/SIGTERM) run again with matquant sweep run FILE\n";
  }
  auto failed = db.prepare(
      "SELECT DISTINCT r.name, j.kind, coalesce(j.precision, ''), j.attempts, coalesce(j.error, '') FROM runs r "
      "JOIN run_jobs rj ON rj.run_key = r.run_key JOIN jobs j ON j.job_key = rj.job_key "
      "WHERE r.sweep = ? AND j.status = 'failed' ORDER BY r.name");
  failed.bind(1, sweep_name);
  bool header = false;
  while (failed.step()) {
    if (!header) out << "failed jobs (matquant sweep retry FILE runs them again):\n";
    header = true;
    std::string error = failed.column_text(4);
    std::istringstream lines(error);
    std::string first, l;
    for (int n = 0; n < 3 && std::getline(lines, l); ++n) first += (n ? "\n      " : "") + l;
    out << "  " << failed.column_text(0) << " " << failed.column_text(1)
        << (failed.column_text(2).empty() ? "" : " @ " + failed.column_text(2)) << " (" << failed.column_int(3)
        << " attempts): " << first << "\n";
  }
  return out.str();
}

}  // namespace matquant::sweep
