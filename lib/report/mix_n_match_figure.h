#pragma once
// Mix'n'Match figure (paper Figures 2 and 3): quality against effective bits per quantized (FFN)
// parameter for layer-wise int2/int4/int8 plans, one series per strategy, the uniform slices
// beside them, and the Pareto front over all points. Data: metrics rows `mnm:STRATEGY@BITS`,
// `int<r>` / `ep-int<r>` with `effective_bits` (task "weights") and `log_pplx` or per-task `acc`.
#include "report/run_records.h"
#include "report/table_spec.h"

#include <string>
#include <vector>

namespace matquant::report {

enum class MixMetric { kAuto, kLogPplx, kTaskAvg };

// "log_pplx" | "task_avg" | "auto"; throws kUsage otherwise.
MixMetric parse_mix_metric(const std::string& name);

struct MixPoint {
  std::string series;  // strategy ("pyramid", ...) or "uniform"
  std::string label;   // the precision label the point was read at
  double bits = 0.0;   // effective bits per quantized parameter
  double value = 0.0;  // log pplx, or Task Avg. in percent
};

// Points no other point beats: nothing with at most as many bits is at least as good and strictly
// better in one of the two. Sorted by bits. Lower values are better for log pplx.
std::vector<MixPoint> pareto_front(const std::vector<MixPoint>& points, bool lower_is_better);

struct MixNMatchRequest {
  std::string model;  // params filter on `model`; empty = any
  std::string base;   // params filter on `base`; empty = any
  Filters where;      // further params filters (--where KEY=VALUE)
  MixMetric metric = MixMetric::kAuto;
};

struct MixNMatchData {
  std::vector<MixPoint> points;  // mean over the matching runs per precision label
  MixMetric metric = MixMetric::kLogPplx;  // resolved (never kAuto)
  int runs = 0;                  // runs that contributed
  std::vector<std::string> models;
};

// The runs that were evaluated at one or more Mix'n'Match plans (and match the request), their
// Mix'n'Match and uniform points. Throws kNotFound when no run has a Mix'n'Match point.
// Throws kInvalidInput when the matching runs are more than one configuration (seeds are the
// only replicates a point averages), naming the params that differ.
MixNMatchData collect_mix_n_match(const std::vector<RunRecord>& runs, const MixNMatchRequest& request);

std::string render_mix_n_match_svg(const MixNMatchData& data);

}  // namespace matquant::report
