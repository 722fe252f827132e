// What a decode step's residual step (kernels::launch_residual_rms_norm at one row: h + post-norm
// of the branch, then the next norm) costs inside a CUDA graph, as `matquant generate --cuda-graph`
// replays it: 200 calls captured back to back, device time per call from events, beside 200 calls of
// an empty kernel (the graph's floor). Plain CUDA (no LibTorch):
// build-device/bench/matquant_bench_residual_step, or alone:
//   nvcc -O3 -std=c++17 -Ilib -arch=sm_90 bench/residual_step_chain.cu lib/kernels/rms_norm.cu \
//        -o residual_step_chain && ./residual_step_chain
#include "plain_cuda.cuh"
#include "kernels/launchers.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {

__global__ void empty_kernel() {}

// Microseconds per call of fn(i), 200 calls replayed from one CUDA graph (the last of 3 replays),
// after four calls outside it (first-call costs).
double graph_us(cudaStream_t stream, const std::function<void(int)>& fn) {
  for (int i = 0; i < 4; ++i) fn(i);
  return graph_replay_us(stream, 200, 3, fn);
}

}  // namespace

int main() {
  using namespace matquant::kernels;
  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double floor_us = graph_us(stream, [&](int) { empty_kernel<<<1, 32, 0, stream>>>(); });
  std::printf("empty kernel: %.2f us per call\n", floor_us);
  std::printf("%6s %5s %12s %12s %12s\n", "width", "rows", "step us", "no next us", "add only us");
  for (const int width : {2304, 3584, 4096}) {
    for (const int rows : {1, 16}) {
      const size_t n = size_t(rows) * width;
      std::vector<__nv_bfloat16> host(n);
      for (size_t i = 0; i < n; ++i) host[i] = __float2bfloat16(float(int(i % 17) - 8) / 8.0f);
      __nv_bfloat16 *h[2], *branch, *normed, *post_w, *next_w;
      for (auto** p : {&h[0], &h[1], &branch, &normed}) CUDA_CHECK(cudaMalloc(p, n * sizeof(__nv_bfloat16)));
      for (auto** p : {&post_w, &next_w}) CUDA_CHECK(cudaMalloc(p, width * sizeof(__nv_bfloat16)));
      for (auto* p : {h[0], h[1], branch, normed}) CUDA_CHECK(cudaMemcpy(p, host.data(), n * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
      for (auto* p : {post_w, next_w}) CUDA_CHECK(cudaMemcpy(p, host.data(), width * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
      auto step = [&](const void* post, const void* next, void* out) {
        return [=](int i) {
          CUDA_CHECK(cudaError_t(launch_residual_rms_norm(Dtype::kBFloat16, Dtype::kBFloat16, h[i % 2], branch, post, next,
                                                     h[1 - i % 2], out, rows, width, 1e-6f, true, stream)));
        };
      };
      const double full = graph_us(stream, step(post_w, next_w, normed));
      const double no_next = graph_us(stream, step(post_w, nullptr, nullptr));
      const double add_only = graph_us(stream, step(nullptr, nullptr, nullptr));
      std::printf("%6d %5d %12.2f %12.2f %12.2f\n", width, rows, full, no_next, add_only);
      for (auto* p : {h[0], h[1], branch, normed, post_w, next_w}) CUDA_CHECK(cudaFree(p));
    }
  }
  return 0;
}
