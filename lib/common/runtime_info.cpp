#include "common/runtime_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>
#include <thread>

#include <fmt/format.h>

namespace matquant {

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  if (at::hasMKL()) {
    info.blas = "MKL";
  } else if (at::hasLAPACK()) {
    info.blas = "OpenBLAS or other LAPACK";
  } else {
    info.blas = "reference (slow)";
  }
  info.intra_op_threads = at::get_num_threads();
  info.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  info.cuda_devices = static_cast<int>(torch::cuda::device_count());
  return info;
}

std::string describe(const RuntimeInfo& info) {
  return fmt::format("libtorch {} | BLAS {} | intra-op threads {} of {} | CUDA devices {}",
                     info.torch_version, info.blas, info.intra_op_threads, info.hardware_threads,
                     info.cuda_devices);
}

void use_all_cores() {
  if (std::getenv("OMP_NUM_THREADS") != nullptr || std::getenv("MKL_NUM_THREADS") != nullptr) return;
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0) at::set_num_threads(static_cast<int>(cores));
}

}  // namespace matquant
