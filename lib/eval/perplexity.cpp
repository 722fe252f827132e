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
  at::Tensor total_nll = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
  int64_t tokens = 0;
  // One copy up front: a copy from pageable host memory waits for the stream to drain, so a copy per
  // batch left the GPU idle while the host queued each batch's first kernels.
  const at::Tensor all_windows = windows.to(device);
  for (int64_t first = 0; first < windows.size(0); first += batch_size) {
    const at::Tensor batch = all_windows.slice(0, first, std::min(windows.size(0), first + batch_size));
    const at::Tensor targets = batch.slice(1, 1);
    // Summed on the device; one host sync at the end instead of one per batch.
    total_nll += model->token_nll(batch.slice(1, 0, -1), targets).sum().to(at::kDouble);
    tokens += targets.numel();
  }
  PerplexityResult result;
  result.tokens = tokens;
  result.log_perplexity = total_nll.item<double>() / double(tokens);
  result.perplexity = std::exp(result.log_perplexity);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace matquant::eval
