#include "test_device.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace matquant::testing {

at::Device test_device() {
  static const at::Device device = [] {
    const char* requested = std::getenv("MATQUANT_TEST_DEVICE");
    if (requested != nullptr) return at::Device(std::string(requested));
    return torch::cuda::is_available() ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  }();
  return device;
}

at::TensorOptions float_options() { return at::TensorOptions().dtype(at::kFloat).device(test_device()); }

}  // namespace matquant::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::cerr << "matquant unit tests on device " << matquant::testing::test_device() << "\n";
  return RUN_ALL_TESTS();
}
