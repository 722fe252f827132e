#pragma once
// Unit tests run on CUDA when the machine has a GPU (or MATQUANT_TEST_DEVICE=cuda|cpu says so).
#include <ATen/ATen.h>

namespace matquant::testing {

at::Device test_device();
at::TensorOptions float_options();

}  // namespace matquant::testing
