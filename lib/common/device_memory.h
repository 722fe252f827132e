#pragma once
// Peak accelerator memory, for the figures the trainers and benchmarks report.
#include <ATen/ATen.h>

namespace matquant {

void reset_peak_device_memory(const at::Device& device);
// Bytes; 0 for CPU devices.
double peak_device_memory(const at::Device& device);

}  // namespace matquant
