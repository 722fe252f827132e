// Issue rate of the H200's integer tensor-core instructions at the shape the batch-1 slice-pack
// kernel uses (N = 8: x's three digits in B's columns), to decide whether Hopper's warpgroup MMA
// would cut the integer kernel's MMA time (docs/performance.md, "Slice packs, eighth round").
// Measures, in one process, on a grid like the kernel's (one block of 16 warps per SM):
//   mma.sync.m16n8k32.u8.s8 per warp, 1, 2 or 4 independent accumulators (the kernel runs 1 or 2);
//   wgmma.mma_async.m64n8k32.u8.s8 per warpgroup, A from registers, B from shared memory, 8 a
//   commit group (or 64), 1 or 2 accumulators; and with A from shared memory too;
// and prints multiply-adds per SM per clock and each rate against mma.sync with one accumulator.
// Operand values do not matter for the rate. wgmma needs sm_90a code: the CMake target
// matquant_bench_integer_mma_rate has it, as does
//   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a bench/integer_mma_rate.cu -o integer_mma_rate
#include "plain_cuda.cuh"

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr int kWarps = 16, kIterations = 4096;

__device__ __forceinline__ void mma(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <int kChains>
__global__ void __launch_bounds__(kWarps * 32, 1) mma_sync_rate(int* out, uint32_t seed) {
  int d[kChains][4] = {};
  const uint32_t a0 = seed ^ threadIdx.x, a1 = a0 * 3, a2 = a0 * 5, a3 = a0 * 7, b0 = a0 * 11, b1 = a0 * 13;
  for (int i = 0; i < kIterations; ++i) {
#pragma unroll
    for (int c = 0; c < kChains; ++c) mma(d[c], a0, a1, a2, a3, b0, b1);
  }
  int sum = 0;
#pragma unroll
  for (int c = 0; c < kChains; ++c) sum += d[c][0] + d[c][1] + d[c][2] + d[c][3];
  if (sum == 0x7fffffff) out[threadIdx.x] = sum;  // keeps the loop
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Shared-memory matrix descriptor, no swizzle: start, leading and stride byte offsets (>> 4).
__device__ __forceinline__ uint64_t descriptor(const void* smem) {
  const uint64_t address = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return ((address & 0x3FFFF) >> 4) | (uint64_t(128 >> 4) << 16) | (uint64_t(256 >> 4) << 32);
}
__device__ __forceinline__ void wgmma(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n8k32.s32.u8.s8 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, 1;"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(b));
}
__device__ __forceinline__ void wgmma_shared_a(int (&d)[4], uint64_t a, uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n8k32.s32.u8.s8 {%0,%1,%2,%3}, %4, %5, 1;"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "l"(a), "l"(b));
}
#endif

template <int kChains, int kGroup = 8, bool kSharedA = false>
__global__ void __launch_bounds__(kWarps * 32, 1) wgmma_rate(int* out, uint32_t seed) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(128) unsigned char operand_tile[4096];  // B (256 bytes), and A where it is shared (2 KB)
  for (int i = threadIdx.x; i < 4096; i += blockDim.x) operand_tile[i] = static_cast<unsigned char>(seed + i);
  __syncthreads();
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // B's stores visible to the tensor cores
  const uint64_t b = descriptor(operand_tile);
  int d[kChains][4] = {};
  const uint32_t a0 = seed ^ threadIdx.x, a1 = a0 * 3, a2 = a0 * 5, a3 = a0 * 7;
  for (int i = 0; i < kIterations / kGroup; ++i) {
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
    for (int j = 0; j < kGroup; ++j) {
#pragma unroll
      for (int c = 0; c < kChains; ++c) {
        if constexpr (kSharedA) {
          wgmma_shared_a(d[c], b, b);  // A read from the same tile: the rate, not the values, matters
        } else {
          wgmma(d[c], a0, a1, a2, a3, b);
        }
      }
    }
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  }
  int sum = 0;
#pragma unroll
  for (int c = 0; c < kChains; ++c) sum += d[c][0] + d[c][1] + d[c][2] + d[c][3];
  if (sum == 0x7fffffff) out[threadIdx.x] = sum;
#else
  if (threadIdx.x == 0 && blockIdx.x == 0) out[0] = -1;  // not sm_90a code: reported as missing
#endif
}

// Multiply-adds per SM per clock of `kernel` on one block per SM.
template <typename Kernel>
double rate(Kernel kernel, double macs_per_block, int sms, double clock_ghz, int* out) {
  kernel<<<sms, kWarps * 32>>>(out, 1);  // warm-up
  CUDA_CHECK(cudaGetLastError());
  CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  constexpr int kRepeats = 20;
  CUDA_CHECK(cudaEventRecord(start));
  for (int r = 0; r < kRepeats; ++r) kernel<<<sms, kWarps * 32>>>(out, 2 + r);
  CUDA_CHECK(cudaEventRecord(stop));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  const double seconds = ms * 1e-3 / kRepeats;
  return macs_per_block / (seconds * clock_ghz * 1e9);
}

}  // namespace

int main() {
  int device = 0, sms = 0, clock_khz = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device));
  cudaDeviceProp properties{};
  CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  const double ghz = clock_khz * 1e-6;
  int* out = nullptr;
  CUDA_CHECK(cudaMalloc(&out, 4096 * sizeof(int)));
  CUDA_CHECK(cudaMemset(out, 0, 4096 * sizeof(int)));
  std::printf("%s, %d SMs, %.2f GHz boost clock; one block of %d warps per SM, %d steps per warp\n", properties.name, sms,
              ghz, kWarps, kIterations);
  const double mma_macs = 16.0 * 8 * 32 * kIterations * kWarps;        // per block, one chain
  const double wgmma_macs = 64.0 * 8 * 32 * kIterations * (kWarps / 4);  // per block, one chain
  const double base = rate(mma_sync_rate<1>, mma_macs, sms, ghz, out);
  auto row = [&](const char* name, double value) {
    std::printf("%-44s %8.0f MAC/SM/clock  %5.2fx\n", name, value, value / base);
  };
  row("mma.sync m16n8k32 u8.s8, 1 accumulator", base);
  row("mma.sync m16n8k32 u8.s8, 2 accumulators", rate(mma_sync_rate<2>, 2 * mma_macs, sms, ghz, out));
  row("mma.sync m16n8k32 u8.s8, 4 accumulators", rate(mma_sync_rate<4>, 4 * mma_macs, sms, ghz, out));
  const double w1 = rate(wgmma_rate<1>, wgmma_macs, sms, ghz, out);
  int flag = 0;
  CUDA_CHECK(cudaMemcpy(&flag, out, sizeof(int), cudaMemcpyDeviceToHost));
  if (flag == -1) {
    std::printf("wgmma: this build has no sm_90a code (see the build line at the top of the source)\n");
    return 0;
  }
  row("wgmma m64n8k32 u8.s8 (A regs), 1 accumulator", w1);
  row("wgmma m64n8k32 u8.s8 (A regs), 2 accumulators", rate(wgmma_rate<2>, 2 * wgmma_macs, sms, ghz, out));
  row("wgmma m64n8k32 u8.s8 (A regs), 1 acc., 64 a group", rate(wgmma_rate<1, 64>, wgmma_macs, sms, ghz, out));
  row("wgmma m64n8k32 u8.s8 (A shared), 1 accumulator", rate(wgmma_rate<1, 8, true>, wgmma_macs, sms, ghz, out));
  CUDA_CHECK(cudaFree(out));
  return 0;
}
