#pragma once
// acc and acc_norm as lm-evaluation-harness computes them (api/task.py process_results): the
// prediction is the first argmax of the choices' log-likelihoods; acc_norm divides each by its
// choice's length in characters (Python len: code points). Aggregation is the mean; the standard
// error is the sample standard deviation over sqrt(n) (api/metrics.py mean_stderr).
#include "eval/task_document.h"

#include <cstdint>
#include <string>
#include <vector>

namespace matquant::eval {

struct DocumentScore {
  int64_t prediction = 0;
  int64_t prediction_norm = 0;
  double acc = 0.0;
  double acc_norm = 0.0;
};

DocumentScore score_document(const TaskDocument& document, const std::vector<double>& loglikelihoods);

struct MeanWithError {
  double mean = 0.0;
  double stderr_of_mean = 0.0;  // 0 when fewer than two values
};
MeanWithError mean_with_error(const std::vector<double>& values);

}  // namespace matquant::eval
