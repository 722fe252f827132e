#pragma once
// Learning-rate schedule of the paper's QAT runs: linear warm-up to the peak, then cosine decay
// to min_ratio * peak at the last step. warmup_steps = 0 and cosine = false give a constant rate.
#include <cstdint>

namespace matquant::train {

struct LearningRateSchedule {
  double peak = 1e-5;
  int64_t warmup_steps = 150;
  int64_t total_steps = 1000;
  bool cosine = true;
  double min_ratio = 0.0;
};

double learning_rate_at(const LearningRateSchedule& schedule, int64_t step);

}  // namespace matquant::train
