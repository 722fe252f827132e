#pragma once
// The fixture of the CUDA kernel tests: skipped without a GPU or without the fused kernels, which it
// turns on for the test (restoring the process's setting after) with the generator seeded.
#include "kernels/fused_ops.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace matquant::testing {

template <uint64_t kSeed>
class CudaKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!at::hasCUDA() || !kernels::fused_kernels_compiled()) GTEST_SKIP() << "needs a GPU and the fused kernels";
    previous_ = kernels::set_fused_kernels(true);
    at::manual_seed(kSeed);
  }
  void TearDown() override {
    if (at::hasCUDA() && kernels::fused_kernels_compiled()) kernels::set_fused_kernels(previous_);
  }
  static at::TensorOptions cuda(at::ScalarType dtype = at::kFloat) {
    return at::TensorOptions().device(at::kCUDA).dtype(dtype);
  }

 private:
  bool previous_ = true;
};

}  // namespace matquant::testing
