#pragma once
// A QAT step's forward and backward passes (every precision of the objective, every micro-batch)
// captured once as a CUDA graph and replayed on later steps: the host issues one graph launch
// instead of the few thousand kernels of a step, so the GPU no longer waits between them.
//
// The captured passes read the step's rows from one device buffer that each step refills, and
// write the parameters' gradients into buffers in the graph's memory pool; the gradients are
// kept from step to step (never reset to none), because the graph's first pass writes them anew
// and the later ones add to them in place. The optimizer step and gradient clipping run outside
// the graph, after the losses are checked for NaN/Inf, as in the eager loop.
#include "model/decoder.h"
#include "train/objective.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace matquant::kernels {
class CapturedWork;
}

namespace matquant::train {

// Whether this build and device can capture the passes (CUDA kernels built, model on CUDA).
bool objective_capture_available(const model::DecoderModel& model);

// The passes could not be captured (an operation a CUDA graph cannot hold, or the warm-up failed);
// what() is the cause, in one line. Nothing is left captured: the caller may run the passes eagerly.
class CaptureFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CapturedObjectivePasses {
 public:
  // micro_batch rows per pass, `accumulation` passes per step, gradients scaled by 1/accumulation.
  CapturedObjectivePasses(model::DecoderModel model, const Objective& objective, bool quantize, int64_t micro_batch,
                          int64_t accumulation, bool bf16_autocast);
  ~CapturedObjectivePasses();
  CapturedObjectivePasses(const CapturedObjectivePasses&) = delete;
  CapturedObjectivePasses& operator=(const CapturedObjectivePasses&) = delete;

  // One step's passes on `rows` ([micro_batch * accumulation, T + 1] token ids, any device). The
  // first call captures (after one warm-up run whose gradients are dropped) and then replays, so
  // every call leaves exactly its own step's gradients. Returns (bits or 0, loss / accumulation)
  // per precision and micro-batch, on the device, valid until the next call. Throws CaptureFailed
  // when the first call cannot capture, and an internal error when a parameter's gradient is no
  // longer the buffer the graph writes (reset or replaced between steps).
  std::vector<std::pair<int, at::Tensor>> run(const at::Tensor& rows);
  // Drops the parameters' gradients and the graph, returning the graph's memory pool (its
  // activations' memory stays reserved for replays while the graph lives).
  void release();

 private:
  void passes();
  void check_gradients_attached() const;
  void drop_gradients();  // every parameter's gradient back to none

  model::DecoderModel model_;
  Objective objective_;
  bool quantize_;
  int64_t micro_batch_;
  int64_t accumulation_;
  bool bf16_autocast_;
  at::Tensor rows_;  // the captured passes' input, refilled each step
  std::vector<std::pair<int, at::Tensor>> losses_;
  std::vector<const void*> gradients_;  // each parameter's gradient buffer as captured (null: none)
  std::unique_ptr<kernels::CapturedWork> graph_;
};

}  // namespace matquant::train
