#pragma once
// Peak accelerator memory, for the figures the trainers and benchmarks report.
#include <ATen/ATen.h>

namespace matquant {

void reset_peak_device_memory(const at::Device& device);
// Bytes; 0 for CPU devices.
double peak_device_memory(const at::Device& device);
// Peak bytes the allocator held from the device (allocated or cached), since the last reset. A CUDA
// graph keeps its pool's memory between replays although its tensors count as freed, so for graphed
// work this, not the allocated peak, is the memory the work occupies.
double peak_reserved_device_memory(const at::Device& device);
// Waits for every queued kernel and copy on a CUDA device (nothing on the CPU).
void synchronize_device(const at::Device& device);

}  // namespace matquant
