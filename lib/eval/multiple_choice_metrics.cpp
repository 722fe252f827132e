#include "eval/multiple_choice_metrics.h"

#include "common/error.h"
#include "eval/python_text.h"

#include <cmath>

namespace matquant::eval {

namespace {

int64_t first_argmax(const std::vector<double>& values) {
  int64_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[size_t(best)]) best = int64_t(i);
  }
  return best;
}

}  // namespace

DocumentScore score_document(const TaskDocument& document, const std::vector<double>& loglikelihoods) {
  if (loglikelihoods.size() != document.choices.size() || loglikelihoods.empty()) {
    throw Error(ErrorCode::kInternal, "one log-likelihood per choice expected");
  }
  std::vector<double> normalized;
  for (size_t i = 0; i < loglikelihoods.size(); ++i) {
    normalized.push_back(loglikelihoods[i] / double(python_length(document.choices[i])));
  }
  DocumentScore score;
  score.prediction = first_argmax(loglikelihoods);
  score.prediction_norm = first_argmax(normalized);
  score.acc = score.prediction == document.gold ? 1.0 : 0.0;
  score.acc_norm = score.prediction_norm == document.gold ? 1.0 : 0.0;
  return score;
}

MeanWithError mean_with_error(const std::vector<double>& values) {
  MeanWithError out;
  if (values.empty()) return out;
  for (const double v : values) out.mean += v;
  out.mean /= double(values.size());
  if (values.size() < 2) return out;
  double squares = 0.0;
  for (const double v : values) squares += (v - out.mean) * (v - out.mean);
  out.stderr_of_mean = std::sqrt(squares / double(values.size() - 1)) / std::sqrt(double(values.size()));
  return out;
}

}  // namespace matquant::eval
