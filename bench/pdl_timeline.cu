// Timeline of chained (programmatic dependent launch) calls: when does call N + 1's block start, when
// have the weights it loads before griddepcontrol.wait arrived, and when does its wait return, against
// call N's end? Each block's thread 0 stamps %globaltimer (ns, one clock for every SM). Built alone
// with nvcc (no LibTorch): the question is what the hardware does with a chain of small grids like
// the slice-pack kernels', not how our kernels behave.
//
// build-device/bench/matquant_bench_pdl_timeline, or alone:
//   nvcc -O3 -std=c++17 -arch=sm_90 bench/pdl_timeline.cu -o pdl_timeline && ./pdl_timeline
#include "plain_cuda.cuh"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

__device__ __forceinline__ uint64_t now_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ uint4 load_streaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Stamps per block: start, levels arrived, wait returned, end.
constexpr int kStamps = 4;
constexpr int kHeld = 8;  // uint4 a thread: 64 KB a block of 512 threads, as the integer kernel's ring

// mode 0: no weights; 1: weights loaded before the wait, used after it (the "+levels" floor);
// 2: weights loaded and used before the wait (stamps when they arrived).
__global__ void __launch_bounds__(512, 1) chained_call(const uint4* weights, const float* x, float* y, uint64_t* stamps,
                                                        int mode, int early_trigger) {
  const uint64_t start = now_ns();
  if (early_trigger) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  uint4 held[kHeld];
  const uint4* mine = weights + size_t(blockIdx.x) * kHeld * blockDim.x + threadIdx.x;
#pragma unroll
  for (int k = 0; k < kHeld; ++k) held[k] = mode != 0 ? load_streaming(mine + k * blockDim.x) : make_uint4(0, 0, 0, 0);
  uint32_t kept = 0;
  uint64_t arrived = 0;
  if (mode == 2) {
#pragma unroll
    for (int k = 0; k < kHeld; ++k) kept ^= held[k].x ^ held[k].y ^ held[k].z ^ held[k].w;
    arrived = now_ns() + (kept == 0x12345u ? 1 : 0);
  }
  asm volatile("griddepcontrol.wait;" ::: "memory");
  const uint64_t waited = now_ns();
  if (mode == 1) {
#pragma unroll
    for (int k = 0; k < kHeld; ++k) kept ^= held[k].x ^ held[k].y ^ held[k].z ^ held[k].w;
    arrived = now_ns();
  }
  // x: 4096 floats, read by every block (the activations), one value a row written.
  __shared__ float sums[16];
  float s = 0.0f;
  for (int i = threadIdx.x; i < 4096; i += blockDim.x) s += x[i];
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
  if (threadIdx.x % 32 == 0) sums[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    float total = kept == 0x9E3779B9u ? 1.0f : 0.0f;
    for (int w = 0; w < 16; ++w) total += sums[w];
    y[blockIdx.x * 32 + threadIdx.x] = total;
  }
  if (!early_trigger) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  __syncthreads();
  if (threadIdx.x == 0) {
    uint64_t* out = stamps + size_t(blockIdx.x) * kStamps;
    out[0] = start, out[1] = arrived, out[2] = waited, out[3] = now_ns();
  }
}

struct Config {
  int blocks, mode, early_trigger;
  bool graph;
};

void run(const Config& c, const uint4* weights, size_t copy_uint4, int copies, const float* x, float* y) {
  constexpr int kCalls = 200;
  uint64_t* stamps = nullptr;
  CUDA_CHECK(cudaMalloc(&stamps, size_t(kCalls) * c.blocks * kStamps * sizeof(uint64_t)));
  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // 120 KB of shared memory: one block an SM, as the integer kernel's registers allow.
  const size_t smem = 120 * 1024;
  CUDA_CHECK(cudaFuncSetAttribute(chained_call, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  auto launch_all = [&] {
    for (int i = 0; i < kCalls; ++i) {
      cudaLaunchConfig_t config = {};
      config.gridDim = dim3(c.blocks);
      config.blockDim = dim3(512);
      config.dynamicSmemBytes = smem;
      config.stream = stream;
      cudaLaunchAttribute attribute[1];
      attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
      attribute[0].val.programmaticStreamSerializationAllowed = 1;
      config.attrs = attribute;
      config.numAttrs = 1;
      CUDA_CHECK(cudaLaunchKernelEx(&config, chained_call, weights + size_t(i % copies) * copy_uint4, x, y,
                               stamps + size_t(i) * c.blocks * kStamps, c.mode, c.early_trigger));
    }
  };
  cudaGraphExec_t exec = nullptr;
  if (c.graph) {
    cudaGraph_t graph;
    CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    launch_all();
    CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CUDA_CHECK(cudaGraphDestroy(graph));
  }
  cudaEvent_t begin, end;
  CUDA_CHECK(cudaEventCreate(&begin));
  CUDA_CHECK(cudaEventCreate(&end));
  float ms = 0.0f;
  for (int rep = 0; rep < 3; ++rep) {  // the last repetition's stamps and time are kept
    CUDA_CHECK(cudaEventRecord(begin, stream));
    if (c.graph) CUDA_CHECK(cudaGraphLaunch(exec, stream)); else launch_all();
    CUDA_CHECK(cudaEventRecord(end, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    CUDA_CHECK(cudaEventElapsedTime(&ms, begin, end));
  }
  std::vector<uint64_t> h(size_t(kCalls) * c.blocks * kStamps);
  CUDA_CHECK(cudaMemcpy(h.data(), stamps, h.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost));
  // Per call: first start, last end, and per block (start - previous call's end), (arrived - start),
  // (waited - previous end); averaged over calls 50..149.
  auto at = [&](int call, int block, int k) { return double(h[(size_t(call) * c.blocks + block) * kStamps + k]); };
  double lead = 0, load = 0, release = 0, span = 0, after_wait = 0;
  int n = 0;
  for (int call = 50; call < 150; ++call, ++n) {
    double prev_end = 0, first_start = 1e300, last_end = 0;
    for (int b = 0; b < c.blocks; ++b) prev_end = std::max(prev_end, at(call - 1, b, 3));
    double l = 0, ld = 0, r = 0, aw = 0;
    for (int b = 0; b < c.blocks; ++b) {
      first_start = std::min(first_start, at(call, b, 0));
      last_end = std::max(last_end, at(call, b, 3));
      l += prev_end - at(call, b, 0);
      ld += c.mode != 0 ? at(call, b, 1) - at(call, b, 0) : 0.0;
      r += at(call, b, 2) - prev_end;
      aw += at(call, b, 3) - at(call, b, 2);
    }
    lead += l / c.blocks, load += ld / c.blocks, release += r / c.blocks, after_wait += aw / c.blocks;
    span += last_end - first_start;
  }
  std::printf("%6d %5d %8d %6s %9.2f %10.2f %9.2f %10.2f %10.2f %9.2f\n", c.blocks, c.mode, c.early_trigger,
              c.graph ? "graph" : "stream", 1000.0 * ms / kCalls, lead / n / 1000, load / n / 1000, release / n / 1000,
              after_wait / n / 1000, span / n / 1000);
  if (exec) CUDA_CHECK(cudaGraphExecDestroy(exec));
  CUDA_CHECK(cudaEventDestroy(begin));
  CUDA_CHECK(cudaEventDestroy(end));
  CUDA_CHECK(cudaStreamDestroy(stream));
  CUDA_CHECK(cudaFree(stamps));
}

}  // namespace

int main() {
  const int max_blocks = 132;
  const size_t copy_uint4 = size_t(max_blocks) * kHeld * 512;  // 8.25 MB a copy
  const int copies = 24;                                        // 198 MB: several L2s
  uint4* weights = nullptr;
  float *x = nullptr, *y = nullptr;
  CUDA_CHECK(cudaMalloc(&weights, copy_uint4 * copies * sizeof(uint4)));
  CUDA_CHECK(cudaMemset(weights, 1, copy_uint4 * copies * sizeof(uint4)));
  CUDA_CHECK(cudaMalloc(&x, 4096 * sizeof(float)));
  CUDA_CHECK(cudaMemset(x, 0, 4096 * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&y, max_blocks * 32 * sizeof(float)));
  std::printf("mode 0: no weights; 1: 64 KB a block loaded before the wait, used after; 2: used before the wait\n");
  std::printf("us columns: per call (events); before the previous call's end a block started (lead); its weights\n"
              "arrived after its start (load); its wait returned after the previous end (release); wait to end; one call's span\n");
  std::printf("%6s %5s %8s %6s %9s %10s %9s %10s %10s %9s\n", "blocks", "mode", "trigger", "launch", "us/call", "lead",
              "load", "release", "after", "span");
  for (const bool graph : {false, true}) {
    for (const int blocks : {32, 64, 128}) {
      for (const int mode : {0, 1, 2}) {
        for (const int early : {1, 0}) run({blocks, mode, early, graph}, weights, copy_uint4, copies, x, y);
      }
    }
  }
  return 0;
}
