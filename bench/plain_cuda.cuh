#pragma once
// Helpers of the plain-CUDA benchmarks (no LibTorch): an error check that prints where and why a
// CUDA call failed and exits 1, and the device time of a captured sequence of calls.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

#define CUDA_CHECK(call)                                                                         \
  do {                                                                                           \
    const cudaError_t cuda_check_error = (call);                                                 \
    if (cuda_check_error != cudaSuccess) {                                                       \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call,                          \
                   cudaGetErrorString(cuda_check_error));                                        \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

// Microseconds per call of call(0), ..., call(calls - 1), captured on `stream` into one CUDA graph
// and replayed `replays` times; the last replay's time is returned. before_replay (if any) runs on
// the host before each replay, with the stream idle.
inline double graph_replay_us(cudaStream_t stream, int calls, int replays, const std::function<void(int)>& call,
                              const std::function<void()>& before_replay = {}) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < calls; ++i) call(i);
  CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t begin, end;
  CUDA_CHECK(cudaEventCreate(&begin));
  CUDA_CHECK(cudaEventCreate(&end));
  float ms = 0.0f;
  for (int rep = 0; rep < replays; ++rep) {
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (before_replay) before_replay();
    CUDA_CHECK(cudaEventRecord(begin, stream));
    CUDA_CHECK(cudaGraphLaunch(exec, stream));
    CUDA_CHECK(cudaEventRecord(end, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    CUDA_CHECK(cudaEventElapsedTime(&ms, begin, end));
  }
  CUDA_CHECK(cudaGraphExecDestroy(exec));
  CUDA_CHECK(cudaGraphDestroy(graph));
  CUDA_CHECK(cudaEventDestroy(begin));
  CUDA_CHECK(cudaEventDestroy(end));
  return 1000.0 * ms / calls;
}
