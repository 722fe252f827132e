#include "kernels/captured_work.h"

#include "common/error.h"

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <vector>

namespace matquant::kernels {

bool captured_work_available() { return true; }

struct CapturedWork::Impl {
  int device = 0;
  at::cuda::CUDAGraph graph{/*keep_graph=*/true};  // kept until the census is taken
  bool captured = false;
  std::map<std::string, int> census;
};

namespace {

// A failed query leaves its error as the runtime's last one; clear it, so that the next launch
// check does not blame an innocent kernel (the census is diagnostic only).
bool queried(cudaError_t result) {
  if (result == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

std::map<std::string, int> census_of(cudaGraph_t graph) {
  std::map<std::string, int> census;
  size_t count = 0;
  // An error pending from before is someone else's to report: take no census rather than clear it.
  if (graph == nullptr || cudaPeekAtLastError() != cudaSuccess || !queried(cudaGraphGetNodes(graph, nullptr, &count))) {
    return census;
  }
  std::vector<cudaGraphNode_t> nodes(count);
  if (!queried(cudaGraphGetNodes(graph, nodes.data(), &count))) return census;
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType type;
    if (!queried(cudaGraphNodeGetType(node, &type)) || type != cudaGraphNodeTypeKernel) continue;
    cudaKernelNodeParams params = {};
    const char* name = nullptr;
    // Kernels launched through the driver API (some libraries') may have no runtime name.
    if (!queried(cudaGraphKernelNodeGetParams(node, &params)) || !queried(cudaFuncGetName(&name, params.func)) ||
        name == nullptr) {
      ++census["(unnamed)"];
      continue;
    }
    ++census[kernel_display_name(name)];
  }
  return census;
}

}  // namespace

CapturedWork::CapturedWork(int device_index) : impl_(std::make_unique<Impl>()) { impl_->device = device_index; }
CapturedWork::~CapturedWork() = default;

namespace {

// Leaves a capture that failed. capture_end ends the stream's capture; when CUDA had invalidated it
// (a synchronising call or a pageable copy inside the work), capture_end throws, and may do so
// before it tells the allocator that the capture is over and before the graph owns its pool. Both
// are then done here, once, so the allocator is not left routing allocations to a dead pool (which
// would also break every later emptyCache and capture), and the pool's memory is released.
using PoolId = decltype(at::cuda::graph_pool_handle());

void abandon_capture(at::cuda::CUDAGraph& graph, c10::DeviceIndex device, const PoolId& pool) {
  try {
    graph.capture_end();
    return;  // a clean end: the graph owns the pool and releases it when it is reset
  } catch (...) {
  }
  try {
    c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool);
  } catch (...) {
    // already ended by capture_end before it failed
  }
  try {
    c10::cuda::CUDACachingAllocator::releasePool(device, pool);
  } catch (...) {
  }
  cudaGetLastError();  // the capture's error is reported by the exception that got us here
}

// Makes `waiting` resume after `done`'s work so far, however the scope is left.
class JoinStreams {
 public:
  JoinStreams(c10::cuda::CUDAStream done, c10::cuda::CUDAStream waiting) : done_(done), waiting_(waiting) {}
  ~JoinStreams() {
    try {
      at::cuda::CUDAEvent finished;
      finished.record(done_);
      finished.block(waiting_);
    } catch (...) {
    }
  }
  JoinStreams(const JoinStreams&) = delete;
  JoinStreams& operator=(const JoinStreams&) = delete;

 private:
  c10::cuda::CUDAStream done_, waiting_;
};

}  // namespace

void CapturedWork::capture(const std::function<void()>& work, const std::function<void()>& before_capture) {
  if (impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::capture called twice");
  const auto device_index = static_cast<c10::DeviceIndex>(impl_->device);
  const c10::cuda::CUDAGuard device(device_index);
  // Capture needs a stream other than the legacy default one; the warm-up runs there too, so the
  // allocations it makes are on the stream the graph will use.
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream();
  // The side stream starts after the caller's pending work, and the caller resumes after it.
  at::cuda::CUDAEvent caller_done;
  caller_done.record(caller);
  caller_done.block(side);
  const JoinStreams join(side, caller);
  const c10::cuda::CUDAStreamGuard guard(side);
  work();
  side.synchronize();
  if (before_capture) {
    before_capture();
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
  // A pool of our own naming, so that a failed capture can end and release it (abandon_capture).
  const PoolId pool = at::cuda::graph_pool_handle();
  impl_->graph.capture_begin(pool);
  try {
    work();
  } catch (...) {
    abandon_capture(impl_->graph, device_index, pool);  // the graph is never replayed
    throw;
  }
  try {
    impl_->graph.capture_end();
  } catch (...) {
    abandon_capture(impl_->graph, device_index, pool);
    throw;
  }
  impl_->census = census_of(impl_->graph.raw_cuda_graph());
  impl_->graph.instantiate();
  impl_->captured = true;
}

const std::map<std::string, int>& CapturedWork::kernel_census() const { return impl_->census; }

void CapturedWork::replay() {
  if (!impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::replay before capture");
  const c10::cuda::CUDAGuard device(static_cast<c10::DeviceIndex>(impl_->device));
  impl_->graph.replay();
}

}  // namespace matquant::kernels
