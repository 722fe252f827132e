#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace matquant::train {

double learning_rate_at(const LearningRateSchedule& s, int64_t step) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) {
    return s.peak * double(step + 1) / double(s.warmup_steps);
  }
  if (!s.cosine) return s.peak;
  const int64_t decay_steps = std::max<int64_t>(1, s.total_steps - s.warmup_steps);
  const double progress = std::clamp(double(step - s.warmup_steps) / double(decay_steps), 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return s.peak * (s.min_ratio + (1.0 - s.min_ratio) * cosine);
}

}  // namespace matquant::train
