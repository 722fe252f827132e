#include "report/size_quality_figure.h"

#include "common/error.h"
#include "quant/precision_label.h"
#include "report/cell_selection.h"
#include "report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace matquant::report {
namespace {

const RunMetric* find(const RunRecord& run, const std::string& precision, const std::string& task,
                      const std::string& metric) {
  for (const RunMetric& m : run.metrics) {
    if (m.precision == precision && m.task == task && m.metric == metric) return &m;
  }
  return nullptr;
}

std::optional<double> value_of(const RunRecord& run, const std::string& precision, const std::string& task,
                               const std::string& metric) {
  const RunMetric* m = find(run, precision, task, metric);
  if (m == nullptr || !m->value || !std::isfinite(*m->value)) return std::nullopt;
  return m->value;
}

const std::vector<std::string> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
                                           "#8c6d31", "#843c39"};

}  // namespace

std::string size_quality_series(const RunRecord& run) {
  const std::string base = run_param(run, "base").value_or("qat");
  const std::string variant = run_param(run, "variant").value_or("matquant");
  const std::string smoothing = run_param(run, "smoothing").value_or("none");
  const std::string format = run_param(run, "format").value_or("int") == "mxint" ? "MXINT" : "INT";
  if (variant != "baseline") {
    std::string method = base == "gptq" ? "GPTQ" : base == "rtn" ? "RTN" : base == "omniquant" ? "OmniQuant" : "QAT";
    return format + " MatQuant (" + variant + ") on " + method;
  }
  std::string method;
  if (smoothing == "smoothquant") method = "SQ";
  if (smoothing == "awq") method = "AWQ";
  if (base == "gptq") method = method.empty() ? "GPTQ" : method + "+";
  if (base == "rtn" && method.empty()) method = "RTN";
  if (method.empty()) method = base;
  return format + " " + method;
}

SizeQualityData collect_size_quality(const std::vector<RunRecord>& runs, const SizeQualityRequest& request) {
  Filters filters = request.where;
  if (!request.model.empty()) filters["model"] = {request.model};
  SizeQualityData data;
  data.log_pplx = request.log_scale_quality;
  for (const RunRecord& run : runs) {
    if (!run_matches(run, filters)) continue;
    std::set<std::string> labels;
    for (const RunMetric& m : run.metrics) labels.insert(m.precision);
    bool contributed = false;
    for (const std::string& label : labels) {
      const auto parameters = value_of(run, label, "weights", "parameters");
      const auto quantized = value_of(run, label, "weights", "quantized_parameters");
      auto log_pplx = value_of(run, label, "validation", "log_pplx");
      if (!log_pplx) log_pplx = value_of(run, label, "c4", "log_pplx");
      if (!parameters || !quantized || !log_pplx) continue;
      const double bits = *quantized > 0 ? value_of(run, label, "weights", "effective_bits").value_or(16.0) : 16.0;
      const double size_bits = (*parameters - *quantized) * 16.0 + *quantized * bits;
      const std::string series = quant::is_unquantized(label) ? "unquantized" : size_quality_series(run);
      data.points.push_back({series, label, size_bits / 8.0 / 1e9, data.log_pplx ? *log_pplx : std::exp(*log_pplx)});
      contributed = true;
    }
    data.runs += contributed ? 1 : 0;
  }
  if (data.points.empty()) {
    throw Error(ErrorCode::kNotFound, "no matching run has a perplexity and weights rows at the same precision");
  }
  data.front = pareto_front(data.points, /*lower_is_better=*/true);
  return data;
}

std::string render_size_quality_svg(const SizeQualityData& data) {
  ChartPanel panel;
  panel.title = "Perplexity against model size (" + std::to_string(data.runs) + (data.runs == 1 ? " run)" : " runs)");
  panel.x_label = "model size, GB (quantized weights at their effective bits, scales included; the rest 16-bit)";
  panel.y_label = data.log_pplx ? "log perplexity (lower is better)" : "perplexity (lower is better)";
  std::map<std::string, std::vector<ChartPoint>> by_series;
  for (const auto& p : data.points) by_series[p.series].push_back({p.bits, p.value});
  size_t color = 0;
  for (auto& [series, points] : by_series) {
    const std::string shade = series == "unquantized" ? "#000000" : kPalette[color++ % kPalette.size()];
    panel.series.push_back({series, shade, SeriesStyle::kMarkers, false, points});
  }
  ChartSeries front{"Pareto front", "#888888", SeriesStyle::kLineMarkers, true, {}};
  for (const auto& p : data.front) front.points.push_back({p.bits, p.value});
  panel.series.push_back(front);
  ChartLayout layout;
  layout.panel_width = 820;
  layout.panel_height = 560;
  return render_svg_chart({panel}, "", layout);
}

}  // namespace matquant::report
