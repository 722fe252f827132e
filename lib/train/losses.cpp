#include "train/losses.h"

namespace matquant::train {

at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& targets) {
  const int64_t vocab = logits.size(-1);
  return at::cross_entropy_loss(logits.reshape({-1, vocab}).to(at::kFloat), targets.reshape({-1}));
}

at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_log_probs) {
  const int64_t vocab = student_logits.size(-1);
  const at::Tensor student = at::log_softmax(student_logits.reshape({-1, vocab}).to(at::kFloat), -1);
  const at::Tensor teacher = teacher_log_probs.reshape({-1, vocab}).detach();
  return (teacher.exp() * (teacher - student)).sum(-1).mean();
}

at::Tensor block_output_loss(const at::Tensor& output, const at::Tensor& target) {
  return (output.to(at::kFloat) - target.to(at::kFloat)).pow(2).mean();
}

}  // namespace matquant::train
