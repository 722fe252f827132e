#pragma once
// The `weights` metric rows of an eval job: what the served model stores, for the report's column
// headers and Avg. Bits columns (docs/quant.md, docs/contracts.md).
//   parameters            every parameter of the model (tied heads once)
//   quantized_parameters  the parameters served from codes (0 for bf16)
//   effective_bits        bits per quantized parameter, layers weighted by size (Mix'n'Match);
//                         Extra-Precision slices add the extra bucket under the default accounting
// and, when the served slices use Extra Precision (Eq. 8):
//   extra_fraction        fraction of quantized parameters in the extra bucket
//   effective_bits_flag   the same bits under the r + f (flag) accounting
#include "jobs/jobs.h"
#include "model/decoder.h"

#include <string>
#include <vector>

namespace matquant::jobs {

std::vector<MetricRow> weight_metrics(model::DecoderModel& net, const std::string& label);

}  // namespace matquant::jobs
