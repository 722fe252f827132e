#include "model/captured_decoder.h"

#include "common/error.h"

#include <c10/core/GradMode.h>

#include <chrono>

namespace matquant::model {

CapturedDecoder::CapturedDecoder(Generator& generator, const KvCache& prompt, int64_t capacity)
    : cache_(generator.static_cache(prompt, capacity)),
      length_(prompt.length),
      graph_(cache_.position.get_device()) {  // the cache's concrete device (cache_ is built first)
  c10::NoGradGuard no_grad;
  const at::Device device = generator.model()->embed_tokens.device();
  if (!device.is_cuda()) throw Error(ErrorCode::kUsage, "CUDA-graph decoding needs the model on a CUDA device");
  if (!kernels::captured_work_available()) {
    throw Error(ErrorCode::kUsage, "CUDA-graph decoding needs a build with the CUDA kernels (MATQUANT_CUDA_KERNELS)");
  }
  const int64_t batch = prompt.keys.front().size(0);
  token_ = at::zeros({batch, 1}, at::TensorOptions().dtype(at::kLong).device(device));
  const auto start = std::chrono::steady_clock::now();
  // The warm-up step writes a key and value at the prompt's end and advances the position; the next
  // real step overwrites that slot, and the position is put back here.
  graph_.capture([&] { logits_ = generator.step_static(token_, cache_); });
  cache_.position.sub_(1);
  capture_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const at::Tensor& CapturedDecoder::step(const at::Tensor& token) {
  if (length_ >= cache_.capacity) {
    throw Error(ErrorCode::kInternal, "CUDA-graph decoding past the capacity it was captured for");
  }
  if (token.sizes() != token_.sizes()) throw Error(ErrorCode::kInternal, "CUDA-graph decoding: token shape changed");
  token_.copy_(token);
  graph_.replay();
  ++length_;
  return logits_;
}

}  // namespace matquant::model
