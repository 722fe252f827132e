#pragma once
// What every ATen wrapper of a raw-pointer launcher needs: the tensor's current stream and one
// error for a failed launch.
#include "common/error.h"
#include "kernels/launchers.h"

#include <c10/cuda/CUDAStream.h>

#include <string>

namespace matquant::kernels {

inline void* stream_of(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

inline void check_launch(int code, const char* kernel) {
  if (code != 0) throw Error(ErrorCode::kInternal, std::string(kernel) + " failed to launch: " + cuda_error_name(code));
}

}  // namespace matquant::kernels
