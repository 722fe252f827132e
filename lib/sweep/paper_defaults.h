#pragma once
// Appendix B of the paper (seed 001) as the run-spec defaults that depend on other fields: the
// loss weights by variant, the learning rate, batch size and LET by base, and the training
// budget by base, variant, scope and co-distillation. complete_spec (run_spec.cpp) applies them to
// fields a spec leaves out and records the resolved values, so they are part of the run key.
// `matquant sweep fields`, docs/contracts.md and docs/training.md state the same rules.
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::sweep {

// What the derived defaults depend on, already validated.
struct RunShape {
  std::string base;          // qat | omniquant
  std::string variant;       // baseline | matquant | sp | ep | sliced
  std::vector<int> bits;     // R
  std::string scope;         // ffn | ffn+attn
  std::string distillation;  // "" = none
};

// lambda_r for each entry of `bits`: matquant 1 for the lowest precision and 0.1 for the others
// ((0.1, 0.1, 1) for Gemma); ep all 1 (every Extra-Precision run); one-precision variants [1].
std::vector<double> default_lambdas(const std::string& variant, const std::vector<int>& bits);

// QAT: 1e-5 (the peak of warm-up + cosine decay); OmniQuant: 1e-3, constant, for clipping and LET.
double default_learning_rate(const std::string& base);
// QAT 16, OmniQuant 4.
int64_t default_batch_size(const std::string& base);
// OmniQuant's Eq. 4 transformation is part of the paper's OmniQuant (Eq. 5 minimises over it).
bool default_let(const std::string& base);

// The run's training tokens relative to its base's standard run: OmniQuant int2 baseline 2
// (20M vs 10M), OmniQuant with co-distillation 0.83 (8.3M), QAT FFN + Attention 3 (300M vs
// 100M), otherwise 1.
double budget_scale(const RunShape& run);
// Appendix B's budgets in the units a spec counts: OmniQuant passes over its 128 x 2048-token
// calibration set (10M tokens: 38; int2 baseline 76; co-distillation 32) and QAT optimizer steps
// of 16 x 8192 tokens (100M tokens: 763; FFN + Attention 2289).
// The field of the other base (unused there) keeps the standard run's value.
int64_t default_epochs(const RunShape& run);
int64_t default_steps(const RunShape& run);

}  // namespace matquant::sweep
