#include "common/device_memory.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>

namespace matquant {

void reset_peak_device_memory(const at::Device& device) {
  if (!device.is_cuda()) return;
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
}

double peak_device_memory(const at::Device& device) {
  if (!device.is_cuda()) return 0.0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
  return double(stats.allocated_bytes[size_t(c10::CachingAllocator::StatType::AGGREGATE)].peak);
}

double peak_reserved_device_memory(const at::Device& device) {
  if (!device.is_cuda()) return 0.0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
  return double(stats.reserved_bytes[size_t(c10::CachingAllocator::StatType::AGGREGATE)].peak);
}

void synchronize_device(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

}  // namespace matquant
