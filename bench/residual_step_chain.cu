// What a decode step's residual step (kernels::launch_residual_rms_norm at one row: h + post-norm
// of the branch, then the next norm) costs inside a CUDA graph, as `matquant generate --cuda-graph`
// replays it: 200 calls captured back to back, device time per call from events, beside 200 calls of
// an empty kernel (the graph's floor). Plain CUDA (no LibTorch):
// build-device/bench/matquant_bench_residual_step, or alone:
//   nvcc -O3 -std=c++17 -Ilib -arch=sm_90 bench/residual_step_chain.cu lib/kernels/rms_norm.cu \
//        -o residual_step_chain && ./residual_step_chain
#include "kernels/launchers.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {

#define CHECK(call)                                                                              \
  do {                                                                                           \
    const cudaError_t e = (call);                                                                \
    if (e != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

__global__ void empty_kernel() {}

// Microseconds per call of fn(i), 200 calls replayed from one CUDA graph (the last of 3 replays).
double graph_us(cudaStream_t stream, const std::function<void(int)>& fn) {
  constexpr int kCalls = 200;
  for (int i = 0; i < 4; ++i) fn(i);
  CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < kCalls; ++i) fn(i);
  CHECK(cudaStreamEndCapture(stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t begin, end;
  CHECK(cudaEventCreate(&begin));
  CHECK(cudaEventCreate(&end));
  float ms = 0.0f;
  for (int rep = 0; rep < 3; ++rep) {
    CHECK(cudaEventRecord(begin, stream));
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaEventRecord(end, stream));
    CHECK(cudaStreamSynchronize(stream));
    CHECK(cudaEventElapsedTime(&ms, begin, end));
  }
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  CHECK(cudaEventDestroy(begin));
  CHECK(cudaEventDestroy(end));
  return 1000.0 * ms / kCalls;
}

}  // namespace

int main() {
  using namespace matquant::kernels;
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double floor_us = graph_us(stream, [&](int) { empty_kernel<<<1, 32, 0, stream>>>(); });
  std::printf("empty kernel: %.2f us per call\n", floor_us);
  std::printf("%6s %5s %12s %12s %12s\n", "width", "rows", "step us", "no next us", "add only us");
  for (const int width : {2304, 3584, 4096}) {
    for (const int rows : {1, 16}) {
      const size_t n = size_t(rows) * width;
      std::vector<__nv_bfloat16> host(n);
      for (size_t i = 0; i < n; ++i) host[i] = __float2bfloat16(float(int(i % 17) - 8) / 8.0f);
      __nv_bfloat16 *h[2], *branch, *normed, *post_w, *next_w;
      for (auto** p : {&h[0], &h[1], &branch, &normed}) CHECK(cudaMalloc(p, n * sizeof(__nv_bfloat16)));
      for (auto** p : {&post_w, &next_w}) CHECK(cudaMalloc(p, width * sizeof(__nv_bfloat16)));
      for (auto* p : {h[0], h[1], branch, normed}) CHECK(cudaMemcpy(p, host.data(), n * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
      for (auto* p : {post_w, next_w}) CHECK(cudaMemcpy(p, host.data(), width * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
      auto step = [&](const void* post, const void* next, void* out) {
        return [=](int i) {
          CHECK(cudaError_t(launch_residual_rms_norm(Dtype::kBFloat16, Dtype::kBFloat16, h[i % 2], branch, post, next,
                                                     h[1 - i % 2], out, rows, width, 1e-6f, true, stream)));
        };
      };
      const double full = graph_us(stream, step(post_w, next_w, normed));
      const double no_next = graph_us(stream, step(post_w, nullptr, nullptr));
      const double add_only = graph_us(stream, step(nullptr, nullptr, nullptr));
      std::printf("%6d %5d %12.2f %12.2f %12.2f\n", width, rows, full, no_next, add_only);
      for (auto* p : {h[0], h[1], branch, normed, post_w, next_w}) CHECK(cudaFree(p));
    }
  }
  return 0;
}
