#include "kernels/captured_work.h"

#include "common/error.h"

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace matquant::kernels {

bool captured_work_available() { return true; }

struct CapturedWork::Impl {
  int device = 0;
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

CapturedWork::CapturedWork(int device_index) : impl_(std::make_unique<Impl>()) { impl_->device = device_index; }
CapturedWork::~CapturedWork() = default;

void CapturedWork::capture(const std::function<void()>& work) {
  if (impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::capture called twice");
  const c10::cuda::CUDAGuard device(static_cast<c10::DeviceIndex>(impl_->device));
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
    try {
      work();
    } catch (...) {
      try {
        impl_->graph.capture_end();  // leaves capture mode; the graph is never replayed
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
  }
  at::cuda::CUDAEvent side_done;
  side_done.record(side);
  side_done.block(caller);
  impl_->captured = true;
}

void CapturedWork::replay() {
  if (!impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::replay before capture");
  const c10::cuda::CUDAGuard device(static_cast<c10::DeviceIndex>(impl_->device));
  impl_->graph.replay();
}

}  // namespace matquant::kernels
