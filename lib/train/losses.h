#pragma once
// Per-precision losses of Eq. 7: next-token cross-entropy for QAT, KL from a teacher precision's
// distribution for co-distillation, and the block-output L2 of OmniQuant.
#include <ATen/ATen.h>

namespace matquant::train {

// logits [B, T, V], targets [B, T]: mean token cross-entropy, computed in fp32.
at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& targets);
// KL(teacher || student), mean over tokens; teacher_log_probs carries no gradient.
at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_log_probs);
// Mean squared error between block outputs.
at::Tensor block_output_loss(const at::Tensor& output, const at::Tensor& target);

}  // namespace matquant::train
