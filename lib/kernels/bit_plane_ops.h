#pragma once
// ATen entry points of the bit-plane kernels (lib/kernels/bit_plane_gemm.cu). quant::bit_plane_linear
// is the caller that picks them; these check shapes and launch. The stand-in build without CUDA
// kernels throws from both.
#include <ATen/ATen.h>

namespace matquant::kernels {

// The bit-plane store of one weight, as tensors on one CUDA device (quant::BitPlanes' fields).
struct BitPlaneOperand {
  at::Tensor planes;      // int32 [rows, tiles, c, 8]
  at::Tensor scale;       // float32 [rows, groups]
  at::Tensor zero_point;  // float32 [rows, groups]
  int code_bits = 8;
  int64_t group_size = 0;
  int64_t columns = 0;
};

// Most activation rows the matmul kernel takes; more rows go through the dequantized weight.
int64_t bit_plane_matmul_max_rows();

// y = x w_r^T (+ bias), x bf16 [batch <= 16, columns] contiguous, y bf16 [batch, rows].
at::Tensor bit_plane_matmul(const BitPlaneOperand& w, int level_bits, bool extra_precision, const at::Tensor& x,
                            const at::Tensor& bias);

// w_r as bf16 [rows, columns].
at::Tensor bit_plane_dequantize(const BitPlaneOperand& w, int level_bits, bool extra_precision);

}  // namespace matquant::kernels
