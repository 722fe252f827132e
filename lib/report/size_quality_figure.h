#pragma once
// Seed 004's Figure 1: perplexity against model size, every (run, evaluated precision) one point,
// one series per method (format and algorithm: "MXINT AWQ+", "INT RTN", "MatQuant on GPTQ", ...),
// and the Pareto front (no other point is both smaller and better) marked. Size counts every
// parameter of the served model: quantized projections at their effective bits (an MX block's
// shared scale included), everything else at 16 bits; SmoothQuant and AWQ add nothing here because
// their scales are folded into the preceding operations (docs/quant.md "SmoothQuant and AWQ").
#include "report/mix_n_match_figure.h"
#include "report/run_records.h"
#include "report/table_spec.h"

#include <string>
#include <vector>

namespace matquant::report {

struct SizeQualityRequest {
  std::string model;  // params filter on `model`; empty = any
  Filters where;      // further params filters
  bool log_scale_quality = false;  // plot log pplx instead of pplx
};

struct SizeQualityData {
  std::vector<MixPoint> points;  // bits = model size in GB (10^9 bytes); value = pplx or log pplx
  std::vector<MixPoint> front;
  bool log_pplx = false;
  int runs = 0;
};

// Method name of a run (from base, smoothing, format, variant) as the legend shows it.
std::string size_quality_series(const RunRecord& run);

// Throws kNotFound when no matching run has a perplexity beside its weights rows.
SizeQualityData collect_size_quality(const std::vector<RunRecord>& runs, const SizeQualityRequest& request);

std::string render_size_quality_svg(const SizeQualityData& data);

}  // namespace matquant::report
