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

void CapturedWork::capture(const std::function<void()>& work, const std::function<void()>& before_capture) {
  if (impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::capture called twice");
  const c10::cuda::CUDAGuard device(static_cast<c10::DeviceIndex>(impl_->device));
  // Capture needs a stream other than the legacy default one; the warm-up runs there too, so the
  // allocations it makes are on the stream the graph will use.
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream();
  // The side stream starts after the caller's pending work, and the caller resumes after it.
  at::cuda::CUDAEvent caller_done;
  caller_done.record(caller);
  caller_done.block(side);
  {
    const c10::cuda::CUDAStreamGuard guard(side);
    work();
    side.synchronize();
    if (before_capture) {
      before_capture();
      c10::cuda::CUDACachingAllocator::emptyCache();
    }
    impl_->graph.capture_begin();
    try {
      work();
    } catch (...) {
      try {
        impl_->graph.capture_end();  // leaves capture mode; the graph is never replayed
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
    impl_->census = census_of(impl_->graph.raw_cuda_graph());
    impl_->graph.instantiate();
  }
  at::cuda::CUDAEvent side_done;
  side_done.record(side);
  side_done.block(caller);
  impl_->captured = true;
}

const std::map<std::string, int>& CapturedWork::kernel_census() const { return impl_->census; }

void CapturedWork::replay() {
  if (!impl_->captured) throw Error(ErrorCode::kInternal, "CapturedWork::replay before capture");
  const c10::cuda::CUDAGuard device(static_cast<c10::DeviceIndex>(impl_->device));
  impl_->graph.replay();
}

}  // namespace matquant::kernels
