#include "kernels/bit_plane_ops.h"

#include "kernels/aten_launch.h"

#include <c10/cuda/CUDAGuard.h>

namespace matquant::kernels {

namespace {

BitPlaneGemm arguments(const BitPlaneOperand& w, int level_bits, bool extra_precision, const char* caller) {
  const at::Tensor& p = w.planes;
  if (!p.defined() || !p.is_cuda() || p.scalar_type() != at::kInt || p.dim() != 4 || !p.is_contiguous() ||
      p.size(2) != w.code_bits || p.size(3) != 8 || w.columns > p.size(1) * 256) {
    throw Error(ErrorCode::kInternal, std::string(caller) + ": planes must be contiguous int32 [rows, tiles, c, 8] on CUDA");
  }
  const int64_t groups = w.scale.dim() == 2 ? w.scale.size(1) : 0;
  for (const at::Tensor* t : {&w.scale, &w.zero_point}) {
    if (!t->is_cuda() || t->scalar_type() != at::kFloat || !t->is_contiguous() || t->dim() != 2 ||
        t->size(0) != p.size(0) || t->size(1) != groups) {
      throw Error(ErrorCode::kInternal, std::string(caller) + ": scale and zero point must be contiguous fp32 [rows, groups]");
    }
  }
  if (w.group_size % 128 != 0) {
    throw Error(ErrorCode::kInvalidInput,
                std::string(caller) + ": the bit-plane kernels take per-channel scales or groups of a multiple of 128 columns, got " +
                    std::to_string(w.group_size));
  }
  if (level_bits < 1 || level_bits > w.code_bits) {
    throw Error(ErrorCode::kInvalidInput, std::string(caller) + ": slice bits must lie in 1.." + std::to_string(w.code_bits));
  }
  BitPlaneGemm a;
  a.planes = p.data_ptr<int32_t>();
  a.rows = p.size(0);
  a.tiles = p.size(1);
  a.code_bits = w.code_bits;
  a.level_bits = level_bits;
  a.extra_precision = extra_precision;
  a.scale = w.scale.data_ptr<float>();
  a.zero = w.zero_point.data_ptr<float>();
  a.groups = groups;
  a.group_size = w.group_size;
  a.columns = w.columns;
  return a;
}

}  // namespace

int64_t bit_plane_matmul_max_rows() { return kBitPlaneGemmMaxBatch; }

at::Tensor bit_plane_matmul(const BitPlaneOperand& w, int level_bits, bool extra_precision, const at::Tensor& x,
                            const at::Tensor& bias) {
  BitPlaneGemm a = arguments(w, level_bits, extra_precision, "bit_plane_matmul");
  if (x.scalar_type() != at::kBFloat16 || x.dim() != 2 || x.size(1) != w.columns || x.size(0) < 1 ||
      x.size(0) > kBitPlaneGemmMaxBatch || x.device() != w.planes.device()) {
    throw Error(ErrorCode::kInternal, "bit_plane_matmul: x must be bf16 [1..16, columns] on the planes' device");
  }
  const at::Tensor xc = x.contiguous();
  at::Tensor b;
  if (bias.defined()) b = bias.to(at::kBFloat16).contiguous();
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor y = at::empty({x.size(0), a.rows}, x.options());
  a.x = xc.data_ptr();
  a.batch = int(x.size(0));
  a.bias = b.defined() ? b.data_ptr() : nullptr;
  a.y = y.data_ptr();
  at::Tensor workspace;
  if (const size_t bytes = bit_plane_gemm_workspace_bytes(a)) {
    workspace = at::empty({int64_t(bytes)}, x.options().dtype(at::kByte));
    a.workspace = workspace.data_ptr();
  }
  check_launch(launch_bit_plane_gemm(a, stream_of(x)), "bit_plane_matmul");
  return y;
}

at::Tensor bit_plane_dequantize(const BitPlaneOperand& w, int level_bits, bool extra_precision) {
  const BitPlaneGemm a = arguments(w, level_bits, extra_precision, "bit_plane_dequantize");
  const c10::cuda::CUDAGuard guard(w.planes.device());
  at::Tensor out = at::empty({a.rows, a.columns}, w.planes.options().dtype(at::kBFloat16));
  check_launch(launch_bit_plane_dequantize(a, out.data_ptr(), stream_of(w.planes)), "bit_plane_dequantize");
  return out;
}

}  // namespace matquant::kernels
