#pragma once
// The QAT optimizer step on a GPU as one pass over all parameters instead of LibTorch's per-tensor
// loops: gradient clipping with _foreach_norm / _foreach_mul_ (no host sync) and AdamW with
// at::_fused_adamw_ (PyTorch's fused=True kernel: the same update as torch::optim::AdamW, equal up
// to rounding). Profiled on the H200 (Gemma-2 2B shape, 26 layers), the per-tensor AdamW was
// ~43 ms of GPU time per step in ~1,700 launches (docs/performance.md). The optimizer's own state
// (AdamWParamState: step, exp_avg, exp_avg_sq) is the one updated, so training state saved and
// resumed is unchanged in form. On the CPU the optimizer's own step runs (bit-exact resume tests).
#include <torch/optim/adamw.h>

namespace matquant::train {

// Scales the gradients so their global 2-norm is at most max_norm (max_norm <= 0: no clipping).
void clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm);

// optimizer.step() for an AdamW without amsgrad; fused on CUDA.
// offload_state: the moments of CUDA parameters live in pinned host memory (created there, and
// moved there if loaded onto the GPU); each parameter's are copied to the GPU for its fused update
// and back, so the GPU holds one parameter's moments at a time. The update is the same.
void adamw_step(torch::optim::AdamW& optimizer, bool offload_state = false);

// Host bytes of offloaded moments (0 when nothing is offloaded), for reports.
int64_t offloaded_state_bytes(torch::optim::AdamW& optimizer);

}  // namespace matquant::train
