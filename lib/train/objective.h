#pragma once
// The MatQuant objective's bookkeeping (paper Eq. 7, Section 5.2): which precisions are trained,
// with which weight lambda_r, on which targets (ground truth, a teacher precision, or both).
//
// Co-distillation strings follow the paper's tables: "[8, 4, 2, 8->2]", "[8, 4, 8->2]",
// "[8, 4, 2, 8->4;2]". A plain number is trained on the ground truth; "x->y;z" makes y and z also
// learn from the x-bit model's outputs; a precision that appears only right of an arrow learns from
// distillation alone. Where both targets apply they are weighted equally (1/2 each).
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace matquant::train {

struct PrecisionTarget {
  int bits = 8;
  bool ground_truth = true;
  std::optional<int> teacher;  // teacher precision, trained without gradient through it
  double lambda = 1.0;
};

class Objective {
 public:
  // bits: R; lambdas: one per entry of bits (empty = all 1).
  static Objective plain(const std::vector<int>& bits, const std::vector<double>& lambdas = {});
  // Parses a co-distillation string; lambdas maps bits -> lambda (missing = 1).
  static Objective parse(const std::string& text, const std::map<int, double>& lambdas = {},
                         int source_bits = 8);

  // Precisions in training order: teachers before their students.
  const std::vector<PrecisionTarget>& targets() const { return targets_; }
  std::vector<int> bits() const;
  bool uses_distillation() const;
  std::string to_string() const;  // canonical "[8, 4, 2, 8->2]" form, round-trips through parse

 private:
  std::vector<PrecisionTarget> targets_;
};

}  // namespace matquant::train
