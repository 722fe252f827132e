#include "eval/perplexity.h"

#include "common/error.h"

#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>

namespace matquant::eval {

PerplexityResult evaluate_perplexity(model::DecoderModel& model, const at::Tensor& windows, int64_t batch_size) {
  if (windows.dim() != 2 || windows.size(1) < 2) throw_invalid("perplexity windows must be [N, L >= 2]");
  const auto start = std::chrono::steady_clock::now();
  c10::NoGradGuard no_grad;
  model->eval();
  const at::Device device = model->embed_tokens.device();
  double total_nll = 0.0;
  int64_t tokens = 0;
  for (int64_t first = 0; first < windows.size(0); first += batch_size) {
    const at::Tensor batch = windows.slice(0, first, std::min(windows.size(0), first + batch_size)).to(device);
    const at::Tensor logits = model->forward(batch.slice(1, 0, -1));
    const at::Tensor targets = batch.slice(1, 1);
    const at::Tensor nll = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}).to(at::kFloat),
                                                  targets.reshape({-1}), {}, at::Reduction::Sum);
    total_nll += nll.item<double>();
    tokens += targets.numel();
  }
  PerplexityResult result;
  result.tokens = tokens;
  result.log_perplexity = total_nll / double(tokens);
  result.perplexity = std::exp(result.log_perplexity);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace matquant::eval
