#pragma once
// The precision labels of docs/contracts.md, as stored in the metrics and jobs tables:
// "bf16", "fp32", "int4", "ep-int2" (Extra-Precision slice), "mnm:pyramid@3.50", "plan:2,4,8,8".
#include <string>

namespace matquant::quant {

// `precision` as written in eval.precisions ("4", "bf16", "pyramid@3.5", "2,4,8,8").
std::string precision_label(const std::string& precision, bool extra_precision);

// "bf16" and "fp32": the unquantized model (in bfloat16 or float32), which needs no training job.
inline bool is_unquantized(const std::string& precision) { return precision == "bf16" || precision == "fp32"; }

// "rtn:FORMAT" (quant/weight_format.h): the base model's weights rounded to FORMAT, no training job.
inline bool is_post_training(const std::string& precision) { return precision.rfind("rtn:", 0) == 0; }

// Everything else is served from a training job's nested checkpoint.
inline bool needs_training(const std::string& precision) {
  return !is_unquantized(precision) && !is_post_training(precision);
}

}  // namespace matquant::quant
