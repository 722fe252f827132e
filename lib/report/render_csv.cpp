#include "report/render.h"

#include "store/query.h"

namespace matquant::report {
namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

const char* state_name(CellState state) {
  switch (state) {
    case CellState::kValue:
      return "value";
    case CellState::kDiverged:
      return "diverged";
    case CellState::kTooFewDocuments:
      return "too_few_documents";
    case CellState::kAmbiguous:
      return "ambiguous";
    case CellState::kMissing:
    default:
      return "missing";
  }
}

}  // namespace

std::string render_csv(const ReportTable& table) {
  std::string out = "table,section,row,precision,model,column,ours,paper,diff,runs,state\n";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const ReportRow& row = table.rows[r];
    for (size_t g = 0; g < table.groups.size(); ++g) {
      for (size_t m = 0; m < table.measures.size(); ++m) {
        const ReportCell& cell = table.cell(r, g, m);
        const bool ours = cell.ours.state == CellState::kValue;
        const bool both = ours && cell.paper && !cell.paper->diverged;
        const std::vector<std::string> fields = {
            table.id, row.section, row.label, row.precision, table.groups[g].model, table.measures[m].key,
            ours ? store::format_real(cell.ours.value) : (cell.ours.state == CellState::kDiverged ? "-" : ""),
            cell.paper ? cell.paper->text : "",
            both ? store::format_real(cell.ours.value - cell.paper->value) : "",
            std::to_string(cell.ours.runs), state_name(cell.ours.state)};
        for (size_t f = 0; f < fields.size(); ++f) out += (f ? "," : "") + csv_field(fields[f]);
        out += "\n";
      }
    }
  }
  return out;
}

}  // namespace matquant::report
