// `matquant report --explain`: for every cell, the filters it applied and the runs behind it, so
// a reader can check that each cell holds exactly one configuration.
#include "report/render.h"

#include <set>

namespace matquant::report {
namespace {

std::string short_key(const std::string& key) { return key.substr(0, 12); }

std::string filters_text(const Filters& filters) {
  std::string out;
  for (const auto& [key, values] : filters) {
    std::string joined;
    for (const auto& v : values) joined += (joined.empty() ? "" : " or ") + (v.empty() ? "\"\"" : v);
    out += (out.empty() ? "" : ", ") + key + "=" + joined;
  }
  return out;
}

}  // namespace

std::string render_explanation(const ReportTable& table) {
  std::string out = "\n### Table " + table.id + ": the runs behind each cell\n\n";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const ReportRow& row = table.rows[r];
    for (size_t g = 0; g < table.groups.size(); ++g) {
      // The measures of one cell read the same runs (a measure a run lacks leaves it out).
      std::vector<CellSource> sources;
      std::set<std::string> seen;
      const CellResult* ambiguous = nullptr;
      for (size_t m = 0; m < table.measures.size(); ++m) {
        const CellResult& ours = table.cell(r, g, m).ours;
        if (ours.state == CellState::kAmbiguous && ambiguous == nullptr) ambiguous = &ours;
        for (const CellSource& s : ours.sources) {
          if (seen.insert(s.run_key).second) sources.push_back(s);
        }
      }
      std::set<std::string> configurations;
      std::set<std::string> measurements;  // a bf16 evaluation shared by several runs is one
      for (const CellSource& s : sources) {
        configurations.insert(s.configuration);
        measurements.insert(s.job_key.empty() ? s.run_key : s.job_key);
      }
      out += "- **" + row.section + " · " + row.label + " · " + row.precision + "**, " + table.groups[g].label + ": ";
      if (ambiguous != nullptr) {
        out += "AMBIGUOUS, " + std::to_string(configurations.size()) + " configurations, differing in ";
        for (size_t i = 0; i < ambiguous->differences.size(); ++i) out += (i ? "; " : "") + ambiguous->differences[i];
        out += ". ";
      } else if (sources.empty()) {
        out += "no run. ";
      } else {
        out += "1 configuration, " + std::to_string(sources.size()) + " run(s), " + std::to_string(measurements.size()) +
               " measurement(s). ";
      }
      for (size_t i = 0; i < sources.size(); ++i) {
        const CellSource& s = sources[i];
        out += (i ? "; " : "") + (s.run_name.empty() ? "(unnamed)" : s.run_name) + " (run " + short_key(s.run_key) +
               (s.job_key.empty() ? "" : ", job " + short_key(s.job_key)) + ")";
      }
      out += "\n  selected by: " + filters_text(table.filters[r * table.groups.size() + g]) + "\n";
    }
  }
  return out;
}

}  // namespace matquant::report
