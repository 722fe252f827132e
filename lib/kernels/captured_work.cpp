#include "kernels/captured_work.h"

#include "common/error.h"

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace matquant::kernels {

bool captured_work_available() { return true; }

struct CapturedWork::Impl {
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

CapturedWork::CapturedWork() : impl_(std::make_unique<Impl>()) {}
CapturedWork::~CapturedWork() = default;

void CapturedWork::capture(const std::function<void()>& work) {
  if (impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::capture called twice");
  // Capture needs a stream other than the legacy default one; the warm-up runs there too, so the
  // allocations it makes are on the stream the graph will use.
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream();
  // The side stream starts after the caller's pending work, and the caller resumes after it.
  at::cuda::CUDAEvent caller_done;
  caller_done.record(caller);
  caller_done.block(side);
  {
    const c10::cuda::CUDAStreamGuard guard(side);
    work();
    side.synchronize();
    impl_->graph.capture_begin();
    work();
    impl_->graph.capture_end();
  }
  at::cuda::CUDAEvent side_done;
  side_done.record(side);
  side_done.block(caller);
  impl_->captured = true;
}

void CapturedWork::replay() {
  if (!impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::replay before capture");
  impl_->graph.replay();
}

}  // namespace matquant::kernels
