#pragma once
// The QAT optimizer step on a GPU as one pass over all parameters instead of LibTorch's per-tensor
// loops: the gradients' global norm with _foreach_norm (no host sync), then AdamW over every fp32
// parameter in one kernel that applies the clipping as it reads each gradient
// (kernels/adamw_ops.h: the same update as torch::optim::AdamW, equal up to rounding). Profiled on the H200 (Gemma-2 2B shape, 26 layers), the per-tensor AdamW was
// ~43 ms of GPU time per step in ~1,700 launches (docs/performance.md). The optimizer's own state
// (AdamWParamState: step, exp_avg, exp_avg_sq) is the one updated, so training state saved and
// resumed is unchanged in form. On the CPU the optimizer's own step runs (bit-exact resume tests).
#include <torch/optim/adamw.h>

namespace matquant::train {

// optimizer.step() for an AdamW without amsgrad; fused on CUDA.
// max_norm > 0 first clips the gradients of the optimizer's parameters to a global 2-norm of at most
// max_norm, as clip_grad_norm_ does (coefficient max_norm / (norm + 1e-6) where below 1). On CUDA
// the clipping makes no pass over the gradients of its own: the update kernel divides each gradient
// by max(1, (norm + 1e-6) / max_norm), a device scalar, as it reads it, and never writes the
// gradients, so they are left unclipped. (clip_grad_norm_'s _foreach_mul_ was 5.7 ms of a 261 ms
// Gemma-2 2B QAT step, and PyTorch's fused AdamW with the divisor as its grad_scale writes every
// gradient back: docs/performance.md.) Each parameter that kernel does not take (not fp32, or its
// moments laid out unlike it) goes through at::_fused_adamw_, which leaves its gradient clipped. On
// the CPU clip_grad_norm_ runs, in place, then the optimizer's own step. Every path ends with
// kernels::note_weights_changed().
// offload_state: the moments of CUDA parameters live in pinned host memory (created there, and
// moved there if loaded onto the GPU); each parameter's are copied to the GPU for its fused update
// and back, so the GPU holds one parameter's moments at a time. The update is the same.
void adamw_step(torch::optim::AdamW& optimizer, bool offload_state = false, double max_norm = 0.0);

// Host bytes of offloaded moments (0 when nothing is offloaded), for reports.
int64_t offloaded_state_bytes(torch::optim::AdamW& optimizer);

}  // namespace matquant::train
