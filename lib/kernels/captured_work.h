#pragma once
// CUDA-graph capture of a piece of host code's device work (at::cuda::CUDAGraph), for code whose
// shapes and tensor addresses stay the same from call to call: captured once, each replay is one
// graph launch instead of the host issuing every kernel again. The build without CUDA kernels
// reports it unavailable and throws from capture.
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace matquant::kernels {

bool captured_work_available();

// A kernel's mangled name as a census shows it: demangled, without its return type, namespaces and
// parameter list ("void at::native::(anonymous namespace)::foo<float, 4>(int)" -> "foo<float, 4>"),
// at most 120 characters.
std::string kernel_display_name(const char* mangled);

class CapturedWork {
 public:
  // Captures and replays on CUDA device `device_index` (made current for both).
  explicit CapturedWork(int device_index = 0);
  ~CapturedWork();
  CapturedWork(const CapturedWork&) = delete;
  CapturedWork& operator=(const CapturedWork&) = delete;

  // Runs `work` once on a side stream (lazy initialisation: library handles, kernel attributes,
  // caches), then captures a second call without running it. `work` must not read device values
  // on the host. Its first call's effects stay: the caller undoes what must not happen twice. If
  // the captured call throws, or CUDA invalidates the capture (a synchronising call or a copy from
  // pageable memory inside it), the capture is ended, its memory pool released and the error
  // propagated: the streams and the allocator are left as they were. `before_capture`, when given, runs on the host
  // after the warm-up's work has finished and before the capture begins (for example to drop
  // tensors the warm-up made, so that the captured call allocates its own in the graph's pool);
  // the allocator's unused cached blocks are then released, so that the graph's pool can take
  // that memory instead of adding to it.
  void capture(const std::function<void()>& warm_up_then_capture,
               const std::function<void()>& before_capture = {});
  // Runs the captured work on the current stream.
  void replay();
  // The captured graph's kernels by (shortened, demangled) name, with how many times each runs per
  // replay: where a replay's time can go. Empty before capture.
  const std::map<std::string, int>& kernel_census() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace matquant::kernels
