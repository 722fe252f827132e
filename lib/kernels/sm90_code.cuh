#pragma once
// Host-side checks before launching with features only sm_90 code has: thread block clusters and
// programmatic dependent launches (griddepcontrol).
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace matquant::kernels {

// Whether `kernel`, as it runs on the current device, comes from code built for sm_90 or later (its
// PTX version). A build for sm_80 alone runs its PTX on an H100, which has neither feature compiled
// in. Remembered per device and kernel type (the version is the same for every kernel of a build).
template <typename Kernel>
bool runs_sm90_code(Kernel kernel) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> ptx[kMaxDevices];  // 0: not asked yet, else the version + 1
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device >= kMaxDevices) return false;
  int known = ptx[device].load();
  if (known == 0) {
    cudaFuncAttributes attributes = {};
    if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess) {
      cudaGetLastError();  // the failed query's error, not a kernel's
      return false;
    }
    known = attributes.ptxVersion + 1;
    ptx[device].store(known);
  }
  return known - 1 >= 90;
}

// A switch read from the environment: on unless `variable` is "0" (to measure a kernel against the
// one it replaced).
inline bool environment_switch_on(const char* variable) {
  const char* value = std::getenv(variable);
  return value == nullptr || std::string(value) != "0";
}

}  // namespace matquant::kernels
