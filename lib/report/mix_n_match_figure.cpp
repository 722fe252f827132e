#include "report/mix_n_match_figure.h"

#include "common/error.h"
#include "report/cell_selection.h"
#include "report/svg_chart.h"

#include <algorithm>
#include <map>
#include <set>

namespace matquant::report {
namespace {

const std::vector<std::string> kTasks = {"arc_challenge", "arc_easy", "boolq", "hellaswag", "piqa", "winogrande"};

// Strategy colours follow the order the paper lists them; uniform slices are dark grey.
const std::vector<std::pair<std::string, std::string>> kSeriesColors = {
    {"pyramid", "#1f77b4"}, {"reverse_pyramid", "#ff7f0e"}, {"increasing", "#2ca02c"}, {"decreasing", "#d62728"}};

// "mnm:pyramid@3.50" -> "pyramid"; "int4" / "ep-int4" -> "uniform"; anything else -> "".
std::string series_of(const std::string& precision) {
  if (precision.rfind("mnm:", 0) == 0) {
    const size_t at = precision.find('@');
    return at == std::string::npos ? "" : precision.substr(4, at - 4);
  }
  const std::string bare = precision.rfind("ep-", 0) == 0 ? precision.substr(3) : precision;
  if (bare.size() > 3 && bare.rfind("int", 0) == 0 &&
      std::all_of(bare.begin() + 3, bare.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "uniform";
  }
  return "";
}

const RunMetric* find(const RunRecord& run, const std::string& precision, const std::string& task,
                      const std::string& metric) {
  for (const RunMetric& m : run.metrics) {
    if (m.precision == precision && m.task == task && m.metric == metric) return &m;
  }
  return nullptr;
}

// The run's quality at `precision`; false when missing or not finite.
bool read_value(const RunRecord& run, const std::string& precision, MixMetric metric, double& out) {
  if (metric == MixMetric::kLogPplx) {
    for (const std::string task : {"validation", "c4"}) {
      const RunMetric* m = find(run, precision, task, "log_pplx");
      if (m != nullptr) {
        if (!m->value) return false;
        out = *m->value;
        return true;
      }
    }
    return false;
  }
  double sum = 0.0;
  for (const std::string& task : kTasks) {
    const RunMetric* m = find(run, precision, task, paper_accuracy_metric(task));
    if (m == nullptr || !m->value) return false;
    // Fixture task files (a handful of documents) give no Task Avg.: plot log pplx. instead.
    const RunMetric* documents = find(run, precision, task, "documents");
    if (documents != nullptr && documents->value && *documents->value < kMinDocuments) return false;
    sum += *m->value;
  }
  out = 100.0 * sum / double(kTasks.size());
  return true;
}

bool has_mix_n_match(const RunRecord& run) {
  return std::any_of(run.metrics.begin(), run.metrics.end(),
                     [](const RunMetric& m) { return m.precision.rfind("mnm:", 0) == 0; });
}

bool has_task_average(const RunRecord& run) {
  double ignored = 0.0;
  for (const RunMetric& m : run.metrics) {
    if (m.precision.rfind("mnm:", 0) == 0 && read_value(run, m.precision, MixMetric::kTaskAvg, ignored)) return true;
  }
  return false;
}

}  // namespace

MixMetric parse_mix_metric(const std::string& name) {
  if (name == "log_pplx") return MixMetric::kLogPplx;
  if (name == "task_avg") return MixMetric::kTaskAvg;
  if (name == "auto") return MixMetric::kAuto;
  throw_usage("--metric: '" + name + "' is not log_pplx, task_avg or auto");
}

std::vector<MixPoint> pareto_front(const std::vector<MixPoint>& points, bool lower_is_better) {
  auto better = [&](double a, double b) { return lower_is_better ? a < b : a > b; };
  std::vector<MixPoint> sorted = points;
  // Fewest bits first; at equal bits the best value first, so the others at those bits are dominated.
  std::stable_sort(sorted.begin(), sorted.end(), [&](const MixPoint& a, const MixPoint& b) {
    if (a.bits != b.bits) return a.bits < b.bits;
    return better(a.value, b.value);
  });
  std::vector<MixPoint> front;
  for (const MixPoint& p : sorted) {
    if (front.empty() || better(p.value, front.back().value)) {
      if (!front.empty() && front.back().bits == p.bits) continue;  // same bits, not better: dominated
      front.push_back(p);
    }
  }
  return front;
}

MixNMatchData collect_mix_n_match(const std::vector<RunRecord>& runs, const MixNMatchRequest& request) {
  Filters filters = request.where;
  if (!request.model.empty()) filters["model"] = {request.model};
  if (!request.base.empty()) filters["base"] = {request.base};
  std::vector<const RunRecord*> selected;
  for (const RunRecord& run : runs) {
    if (has_mix_n_match(run) && run_matches(run, filters)) selected.push_back(&run);
  }
  if (selected.empty()) {
    throw Error(ErrorCode::kNotFound,
                "no run" + std::string(request.model.empty() ? "" : " of model " + request.model) +
                    (request.base.empty() ? "" : " with base " + request.base) +
                    " has Mix'n'Match evaluations (precision labels mnm:STRATEGY@BITS; see sweeps/mix-n-match.yaml)");
  }
  if (const auto differences = configuration_differences(selected); !differences.empty()) {
    std::string differing;
    for (const auto& d : differences) differing += (differing.empty() ? "" : "; ") + d;
    throw Error(ErrorCode::kInvalidInput, "the runs with Mix'n'Match evaluations are several configurations (" + differing +
                                              "): choose one with --model, --base or --where KEY=VALUE");
  }
  MixNMatchData data;
  data.metric = request.metric;
  if (data.metric == MixMetric::kAuto) {
    const bool accuracy = std::any_of(selected.begin(), selected.end(), [](const RunRecord* r) { return has_task_average(*r); });
    data.metric = accuracy ? MixMetric::kTaskAvg : MixMetric::kLogPplx;
  }
  // Mean over runs per precision label (seeds are replicates), as in the tables.
  struct Sum {
    std::string series;
    double bits = 0.0, value = 0.0;
    int n = 0;
  };
  std::map<std::string, Sum> sums;
  std::set<std::string> models;
  for (const RunRecord* run : selected) {
    bool contributed = false;
    std::set<std::string> labels;
    for (const RunMetric& m : run->metrics) labels.insert(m.precision);
    for (const std::string& label : labels) {
      const std::string series = series_of(label);
      if (series.empty()) continue;
      const RunMetric* bits = find(*run, label, "weights", "effective_bits");
      double value = 0.0;
      if (bits == nullptr || !bits->value || !read_value(*run, label, data.metric, value)) continue;
      Sum& s = sums[label];
      s.series = series;
      s.bits += *bits->value;
      s.value += value;
      ++s.n;
      contributed = true;
    }
    if (contributed) {
      ++data.runs;
      const auto model = run_param(*run, "model");
      if (model) models.insert(*model);
    }
  }
  for (const auto& [label, s] : sums) data.points.push_back({s.series, label, s.bits / s.n, s.value / s.n});
  data.models.assign(models.begin(), models.end());
  if (data.points.empty()) {
    throw Error(ErrorCode::kNotFound, std::string("Mix'n'Match runs found, but none has both effective_bits and ") +
                                          (data.metric == MixMetric::kLogPplx ? "log_pplx" : "all six task accuracies"));
  }
  return data;
}

std::string render_mix_n_match_svg(const MixNMatchData& data) {
  const bool lower = data.metric == MixMetric::kLogPplx;
  ChartPanel panel;
  panel.x_label = "effective bits per quantized parameter";
  panel.y_label = lower ? "log perplexity (lower is better)" : "Task Avg. (%)";
  std::string models;
  for (const auto& m : data.models) models += (models.empty() ? "" : ", ") + m;
  panel.title = "Mix'n'Match: " + models + " (" + std::to_string(data.runs) + (data.runs == 1 ? " run)" : " runs)");
  auto sorted_points = [&](const std::string& series) {
    std::vector<ChartPoint> points;
    std::vector<MixPoint> of;
    for (const auto& p : data.points) {
      if (p.series == series) of.push_back(p);
    }
    std::sort(of.begin(), of.end(), [](const MixPoint& a, const MixPoint& b) { return a.bits < b.bits; });
    for (const auto& p : of) points.push_back({p.bits, p.value});
    return points;
  };
  std::set<std::string> known;
  for (const auto& [series, color] : kSeriesColors) {
    known.insert(series);
    auto points = sorted_points(series);
    if (!points.empty()) panel.series.push_back({series, color, SeriesStyle::kLineMarkers, false, points});
  }
  std::set<std::string> others;
  for (const auto& p : data.points) {
    if (p.series != "uniform" && known.count(p.series) == 0) others.insert(p.series);
  }
  for (const auto& series : others) panel.series.push_back({series, "#9467bd", SeriesStyle::kLineMarkers, false, sorted_points(series)});
  auto uniform = sorted_points("uniform");
  if (!uniform.empty()) panel.series.push_back({"uniform int8 ... int2", "#222222", SeriesStyle::kMarkers, false, uniform});
  // The front last, so strategy lines running along it do not hide it.
  ChartSeries front{"Pareto front", "#444444", SeriesStyle::kLine, true, {}};
  for (const auto& p : pareto_front(data.points, lower)) front.points.push_back({p.bits, p.value});
  panel.series.push_back(front);
  ChartLayout layout;
  layout.panel_width = 760;
  layout.panel_height = 520;
  return render_svg_chart({panel}, "", layout);
}

}  // namespace matquant::report
