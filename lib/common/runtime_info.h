#pragma once
// What the running LibTorch offers: BLAS backend, thread count, CUDA devices.
// Printed by `matquant --version` so a slow machine is explained, not guessed at.
#include <string>

namespace matquant {

struct RuntimeInfo {
  std::string torch_version;
  std::string blas;  // "MKL", "OpenBLAS or other LAPACK", or "reference (slow)"
  int intra_op_threads = 1;
  int hardware_threads = 1;
  int cuda_devices = 0;
};

RuntimeInfo runtime_info();
std::string describe(const RuntimeInfo& info);

// Makes intra-op parallelism use every core unless OMP/MKL thread variables say otherwise.
void use_all_cores();

}  // namespace matquant
