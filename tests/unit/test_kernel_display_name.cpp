// kernels::kernel_display_name, the names `matquant generate --cuda-graph` reports in its kernel
// census: real mangled names (one of ours in an anonymous namespace, one of ATen's), checked
// against what c++filt prints for them with the return type, namespaces and parameters dropped.
#include "kernels/captured_work.h"

#include <gtest/gtest.h>

using matquant::kernels::kernel_display_name;

TEST(KernelDisplayName, KeepsTheFunctionAndItsTemplateArguments) {
  EXPECT_EQ(kernel_display_name("_ZN8matquant7kernels51_GLOBAL__N__643b7b72_18_slice_pack_gemm_cu_4750d37222slice_pack_"
                                "gemm_kernelILi4ELi1ELb1ELb0ELi2EEEvNS0_13SlicePackGemmEib"),
            "slice_pack_gemm_kernel<4, 1, true, false, 2>");
  EXPECT_EQ(kernel_display_name("_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_11FillFunctorIfEESt5arrayIPcLm1EEEEviT0_T1_"),
            "vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, std::array<char*, 1ul> >");
}

TEST(KernelDisplayName, PassesPlainNamesThroughAndShortensLongOnes) {
  EXPECT_EQ(kernel_display_name("fill_kernel"), "fill_kernel");
  const std::string long_name(200, 'k');
  const std::string shown = kernel_display_name(long_name.c_str());
  EXPECT_EQ(shown.size(), 120u);
  EXPECT_EQ(shown.substr(117), "...");
}
