#pragma once
// The dispatch shared by the packed weight stores (quant/bit_planes.h, quant/slice_pack.h): x times
// the store's slice transposed, through its decode kernel when the call is decode-sized, otherwise
// through the dequantized weight and at::linear (the same function up to bf16 rounding).
#include "common/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <fmt/format.h>

#include <string>

namespace matquant::quant {

// x [..., columns] -> [..., rows]. kernel(x2d [n, columns], bias) runs when `kernel_applies`, x is bf16
// on `device` and n is 1..max_rows; dequantize(dtype) gives the weight [rows, columns] otherwise.
template <typename Kernel, typename Dequantize>
at::Tensor packed_linear(const char* caller, const at::Tensor& x, int64_t rows, int64_t columns, bool kernel_applies,
                         const at::Device& device, int64_t max_rows, Kernel&& kernel, Dequantize&& dequantize,
                         const at::Tensor& bias) {
  c10::NoGradGuard no_grad;
  if (x.size(-1) != columns) {
    throw_invalid(fmt::format("{}: input has {} features, the weight {}", caller, x.size(-1), columns));
  }
  const int64_t n = x.numel() / columns;
  if (kernel_applies && x.device() == device && x.scalar_type() == at::kBFloat16 && n >= 1 && n <= max_rows) {
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = rows;
    return kernel(x.reshape({n, columns}), bias).view(shape);
  }
  const at::Tensor w = dequantize(x.scalar_type());
  return at::linear(x, w, bias.defined() ? bias.to(x.scalar_type()) : bias);
}

}  // namespace matquant::quant
