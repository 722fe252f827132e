#pragma once
// GPU kernel-time breakdown through LibTorch's Kineto profiler (the same collector as
// torch.profiler in Python, so bench/reference/kernel_profile.py prints a comparable table for the
// reference side). Used by the benchmarks' --profile runs: kernel names are grouped into a few
// classes (matmul, attention softmax, elementwise, reductions, ...) and the top kernels listed with
// their share of GPU time and of wall time; GPU busy / wall shows launch gaps and host syncs.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace matquant::bench {

// The class of a kernel, by the words CUDA libraries and ATen put in kernel names.
inline std::string kernel_class(const std::string& name) {
  auto has = [&](const char* word) { return name.find(word) != std::string::npos; };
  if (has("gemm") || has("nvjet") || has("cutlass") || has("xmma") || has("cublas") || has("Gemm")) return "matmul";
  if (has("matquant")) return "matquant fused";
  if (has("flash") || has("fmha") || has("attention")) return "fused attention";
  if (has("softmax") || has("Softmax")) return "softmax";
  if (has("reduce") || has("Reduce") || has("norm")) return "reduction";
  if (has("Memcpy") || has("memcpy") || has("Memset") || has("memset")) return "memcpy/memset";
  if (has("elementwise") || has("Elementwise") || has("vectorized") || has("unrolled")) return "elementwise";
  return "other";
}

class KernelProfile {
 public:
  // MATQUANT_PROFILE_TRACE=PATH also records operator input shapes and writes a Chrome trace of the
  // profiled span to PATH (for attributing kernels to the operators and autograd nodes that launched them).
  void start() {
    using torch::profiler::impl::ActivityType;
    const char* trace = std::getenv("MATQUANT_PROFILE_TRACE");
    trace_path_ = trace ? trace : "";
    torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO,
                                                 /*report_input_shapes=*/!trace_path_.empty());
    const std::set<ActivityType> activities{ActivityType::CPU, ActivityType::CUDA};
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
  }

  // Stops profiling and prints the breakdown; `wall_seconds` is the profiled span, `units` how
  // many steps or passes it held (times are printed per unit). MATQUANT_PROFILE_TOP sets how many
  // kernels are listed (default 25).
  void stop_and_print(double wall_seconds, double units, int top = 25) {
    if (const char* env = std::getenv("MATQUANT_PROFILE_TOP")) top = std::max(1, std::atoi(env));
    const auto result = torch::autograd::profiler::disableProfiler();
    if (!trace_path_.empty()) {
      result->save(trace_path_);
      fmt::print("kernel profile: trace written to {}\n", trace_path_);
    }
    std::map<std::string, std::pair<double, int64_t>> by_name;  // name -> (seconds, launches)
    double gpu_seconds = 0.0;
    for (const auto& event : result->events()) {
      if (event.deviceType() != c10::DeviceType::CUDA) continue;
      const double seconds = double(event.durationNs()) * 1e-9;
      auto& entry = by_name[event.name()];
      entry.first += seconds;
      entry.second += 1;
      gpu_seconds += seconds;
    }
    if (gpu_seconds <= 0.0) {
      fmt::print("kernel profile: no GPU kernels recorded (CPU run?)\n");
      return;
    }
    std::map<std::string, double> by_class;
    for (const auto& [name, entry] : by_name) by_class[kernel_class(name)] += entry.first;
    fmt::print("kernel profile: wall {:.2f} ms per unit, GPU busy {:.2f} ms per unit ({:.1f}% of wall)\n",
               1e3 * wall_seconds / units, 1e3 * gpu_seconds / units, 100.0 * gpu_seconds / wall_seconds);
    std::vector<std::pair<std::string, double>> classes(by_class.begin(), by_class.end());
    std::sort(classes.begin(), classes.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (const auto& [name, seconds] : classes) {
      fmt::print("  class {:<18}{:>10.2f} ms{:>8.1f}% of GPU time\n", name, 1e3 * seconds / units,
                 100.0 * seconds / gpu_seconds);
    }
    std::vector<std::pair<std::string, std::pair<double, int64_t>>> kernels(by_name.begin(), by_name.end());
    std::sort(kernels.begin(), kernels.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
    for (size_t i = 0; i < kernels.size() && int(i) < top; ++i) {
      const auto& [name, entry] = kernels[i];
      fmt::print("  {:>8.2f} ms {:>5.1f}% {:>6.0f} launches  {}\n", 1e3 * entry.first / units,
                 100.0 * entry.first / gpu_seconds, double(entry.second) / units, name.substr(0, 110));
    }
  }

 private:
  std::string trace_path_;
};

}  // namespace matquant::bench
