#include "sweep/paper_defaults.h"

#include <algorithm>
#include <cmath>

namespace matquant::sweep {
namespace {

// Appendix B: OmniQuant calibrates on 128 C4 sequences of 2048 tokens for 10M tokens; QAT reads
// 100M tokens once in steps of 16 sequences of 8192 tokens.
constexpr double kOmniQuantTokens = 10e6;
constexpr double kOmniQuantTokensPerEpoch = 128.0 * 2048.0;
constexpr double kQatTokens = 100e6;
constexpr double kQatTokensPerStep = 16.0 * 8192.0;

// The budgets Appendix B names besides the standard run's.
constexpr double kInt2BaselineScale = 20e6 / kOmniQuantTokens;
constexpr double kCoDistillationScale = 8.3e6 / kOmniQuantTokens;
constexpr double kFfnAttentionQatScale = 300e6 / kQatTokens;

int64_t count_of(double tokens, double tokens_per_unit) {
  return std::max<int64_t>(1, std::llround(tokens / tokens_per_unit));
}

}  // namespace

std::vector<double> default_lambdas(const std::string& variant, const std::vector<int>& bits) {
  if (variant != "matquant" || bits.empty()) return std::vector<double>(bits.size(), 1.0);
  const int lowest = *std::min_element(bits.begin(), bits.end());
  std::vector<double> lambdas;
  for (int r : bits) lambdas.push_back(r == lowest ? 1.0 : 0.1);
  return lambdas;
}

double default_learning_rate(const std::string& base) { return base == "qat" ? 1e-5 : 1e-3; }

int64_t default_batch_size(const std::string& base) { return base == "qat" ? 16 : 4; }

bool default_let(const std::string& base) { return base == "omniquant"; }

double budget_scale(const RunShape& run) {
  if (run.base == "omniquant") {
    if (run.variant == "baseline" && run.bits.size() == 1 && run.bits[0] == 2) return kInt2BaselineScale;
    if (!run.distillation.empty()) return kCoDistillationScale;
    return 1.0;
  }
  return run.scope == "ffn+attn" ? kFfnAttentionQatScale : 1.0;
}

int64_t default_epochs(const RunShape& run) {
  const double scale = run.base == "omniquant" ? budget_scale(run) : 1.0;
  return count_of(kOmniQuantTokens * scale, kOmniQuantTokensPerEpoch);
}

int64_t default_steps(const RunShape& run) {
  const double scale = run.base == "qat" ? budget_scale(run) : 1.0;
  return count_of(kQatTokens * scale, kQatTokensPerStep);
}

}  // namespace matquant::sweep
