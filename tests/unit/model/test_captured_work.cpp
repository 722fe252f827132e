// kernels::CapturedWork when a capture fails: CUDA invalidates a capture whose work synchronises
// with the host. The failure must reach the caller as an exception and leave the allocator and the
// streams usable: eager work, emptyCache and a later capture all go on as before. CUDA only.
#include "cuda_kernel_test.h"
#include "kernels/captured_work.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <gtest/gtest.h>

using namespace matquant;

namespace {

class CapturedWorkFailure : public matquant::testing::CudaKernelTest<3> {};

}  // namespace

TEST_F(CapturedWorkFailure, AnInvalidatedCaptureLeavesTheAllocatorUsable) {
  const at::Tensor x = at::zeros({1024}, cuda());
  {
    kernels::CapturedWork failing;
    // The warm-up runs eagerly (x = 1); the captured call reads a value on the host, which a
    // capture cannot hold.
    EXPECT_ANY_THROW(failing.capture([&] {
      x.add_(1.0);
      const at::Tensor scratch = at::ones({1 << 16}, cuda());  // an allocation inside the capture
      (void)(x.sum() + scratch.sum()).item<float>();
    }));
  }
  EXPECT_EQ(x[0].item<float>(), 1.0f);
  // Eager work, returning cached memory, and another capture all still work.
  const at::Tensor y = at::ones({1 << 20}, cuda()) * 2.0;
  EXPECT_EQ(y.sum().item<double>(), double(1 << 21));
  c10::cuda::CUDACachingAllocator::emptyCache();
  kernels::CapturedWork working;
  working.capture([&] { x.add_(1.0); });  // warm-up: x = 2
  working.replay();
  working.replay();
  EXPECT_EQ(x[0].item<float>(), 4.0f);
}
