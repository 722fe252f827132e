#pragma once
// What every ATen wrapper of a raw-pointer launcher needs: the tensor's current stream and one
// error for a failed launch.
#include "common/error.h"
#include "kernels/launchers.h"

#include <c10/cuda/CUDAStream.h>

#include <cstdlib>
#include <string>

namespace matquant::kernels {

inline void* stream_of(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

// A process-wide switch read once from the environment: on unless `variable` is "0".
inline bool on_unless_zero(const char* variable) {
  const char* value = std::getenv(variable);
  return value == nullptr || std::string(value) != "0";
}

inline void check_launch(int code, const char* kernel) {
  if (code != 0) throw Error(ErrorCode::kInternal, std::string(kernel) + " failed to launch: " + cuda_error_name(code));
}

}  // namespace matquant::kernels
