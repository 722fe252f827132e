#include "kernels/adamw_ops.h"

#include "kernels/aten_launch.h"
#include "kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include <cmath>
#include <cstring>

namespace matquant::kernels {

bool adamw_update_applies(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                          const std::vector<at::Tensor>& exp_avgs, const std::vector<at::Tensor>& exp_avg_sqs) {
  // MATQUANT_ADAMW_KERNEL=0 leaves every update to PyTorch's fused kernel (benchmarks measure both).
  static const bool on = on_unless_zero("MATQUANT_ADAMW_KERNEL");
  if (!on || params.empty() || grads.size() != params.size() || exp_avgs.size() != params.size() ||
      exp_avg_sqs.size() != params.size() || !params.front().is_cuda() || !fused_kernels_enabled(params.front())) {
    return false;
  }
  const auto device = params.front().device();
  for (size_t i = 0; i < params.size(); ++i) {
    // The kernel walks each tensor's memory in order: dense tensors whose four members share strides
    // (a transposed parameter, its gradient and its zeros_like moments) pair up element by element.
    for (const at::Tensor* t : {&params[i], &grads[i], &exp_avgs[i], &exp_avg_sqs[i]}) {
      if (!t->defined() || t->device() != device || t->scalar_type() != at::kFloat ||
          !t->is_non_overlapping_and_dense() || t->sizes() != params[i].sizes()) {
        return false;
      }
      for (int64_t d = 0; d < t->dim(); ++d) {  // a dimension of size 1 may have any stride
        if (t->size(d) > 1 && t->stride(d) != params[i].stride(d)) return false;
      }
    }
  }
  return true;
}

void adamw_update(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                  const std::vector<at::Tensor>& exp_avgs, const std::vector<at::Tensor>& exp_avg_sqs,
                  const std::vector<int64_t>& steps, const AdamWSettings& settings, const at::Tensor& divisor) {
  if (!adamw_update_applies(params, grads, exp_avgs, exp_avg_sqs) || steps.size() != params.size()) {
    throw Error(ErrorCode::kInternal, "adamw_update: operands adamw_update_applies refuses");
  }
  const c10::cuda::CUDAGuard guard(params.front().device());
  // The table goes over in one copy from pinned memory; the caching host allocator keeps the host
  // side alive until the copy has run, and the device copy is stream-ordered before any reuse.
  at::Tensor host = at::empty({int64_t(params.size() * sizeof(AdamWEntry))},
                              at::TensorOptions(at::kByte).pinned_memory(true));
  auto* entries = reinterpret_cast<AdamWEntry*>(host.data_ptr());
  int64_t blocks = 0;
  const float beta1 = float(settings.beta1), beta2 = float(settings.beta2);
  for (size_t i = 0; i < params.size(); ++i) {
    AdamWEntry e{};
    e.param = params[i].data_ptr<float>();
    e.grad = grads[i].data_ptr<float>();
    e.exp_avg = exp_avgs[i].data_ptr<float>();
    e.exp_avg_sq = exp_avg_sqs[i].data_ptr<float>();
    e.numel = params[i].numel();
    e.first_block = blocks;
    // In fp32 from the fp32 step count, as PyTorch's fused kernel forms them (on the host here, so
    // they may differ from its device pow in the last place).
    const float step = float(steps[i]);
    e.bias_correction1 = 1.0f - std::pow(beta1, step);
    e.bias_correction2_sqrt = std::sqrt(1.0f - std::pow(beta2, step));
    std::memcpy(&entries[i], &e, sizeof(e));
    blocks += adamw_update_blocks(e.numel);
  }
  const at::Tensor table = host.to(params.front().device(), /*non_blocking=*/true);
  if (divisor.defined() && (divisor.scalar_type() != at::kFloat || divisor.numel() != 1 ||
                            divisor.device() != params.front().device())) {
    throw Error(ErrorCode::kInternal, "adamw_update: the divisor must be one fp32 value on the parameters' device");
  }
  // Written in place behind autograd's back: bump the versions an in-place ATen op would, so a saved
  // tensor, or anything keyed on a parameter's version, sees the change.
  for (size_t i = 0; i < params.size(); ++i) {
    for (const at::Tensor* t : {&params[i], &exp_avgs[i], &exp_avg_sqs[i]}) t->unsafeGetTensorImpl()->bump_version();
  }
  check_launch(launch_adamw_update(reinterpret_cast<const AdamWEntry*>(table.data_ptr()), int(params.size()), blocks,
                                   float(settings.lr), beta1, beta2, float(settings.weight_decay), float(settings.eps),
                                   divisor.defined() ? divisor.data_ptr<float>() : nullptr, stream_of(params.front())),
               "adamw_update");
}

}  // namespace matquant::kernels
