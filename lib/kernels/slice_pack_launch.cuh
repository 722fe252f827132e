#pragma once
// What the slice-pack matmul kernels (slice_pack_gemm.cu, slice_pack_imma.cu) share: programmatic
// dependent launch, streaming weight loads, and the host-side launch helpers.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>

namespace matquant::kernels {
namespace {

constexpr int kMaxDevices = 64;

// Programmatic dependent launch (code for sm_90+ only). The weights, scales and zero points are
// constants of the model, so a kernel may read them while the stream's previous kernel still runs;
// only x (that kernel's output, perhaps) and y (a buffer it may still read) wait for it. The wait
// returns at once in a grid launched without the attribute; the trigger releases a successor
// launched with it (the first thread of a block to trigger does so for the whole block).
__device__ __forceinline__ void let_next_grid_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Asks L2 for `bytes` (a multiple of 16, 16-byte aligned) from p without waiting (sm_90+; a no-op
// elsewhere): the block's later chunks stream from DRAM while its warps work on the first ones.
__device__ __forceinline__ void prefetch_to_l2(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (bytes > 0) asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
}

// Weights are read once: keep them out of L1, which holds the activations.
__device__ __forceinline__ uint4 load_streaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// A block's share of a call's rows: units of `tiles` row tiles of 16 rows, `per_block` consecutive
// units a block, and for warp `warp` of `warps` the chunks warp, warp + warps, ... of each unit.
struct BlockUnits {
  int64_t row_tiles, first_unit;
  int units;        // this block's units
  int whole_units;  // of them, those whose `tiles` tiles all exist (an odd count leaves the last one)
  int slots;        // this warp's chunks per unit
  __device__ __forceinline__ BlockUnits(int64_t rows, int64_t chunks, int tiles, int per_block, int warp, int warps) {
    row_tiles = (rows + 15) / 16;
    const int64_t all_units = (row_tiles + tiles - 1) / tiles;
    first_unit = int64_t(blockIdx.x) * per_block;
    units = int(min(int64_t(per_block), all_units - first_unit));
    whole_units = int(max(int64_t(0), min(int64_t(units), row_tiles / tiles - first_unit)));
    slots = int((chunks - warp + warps - 1) / warps);
  }
};

// Activations: the previous kernel's output. A plain (coherent) load: ptxas may move ld.global.nc
// loads (__ldg), which it takes for read-only data, ahead of griddepcontrol.wait (it did so in
// slice_pack_imma.cu's prologue, and chained calls then read a stale x).
__device__ __forceinline__ uint4 load_after_wait(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
  return v;
}

// A tuning knob from the environment: its value clamped to [0, most], 0 when unset.
int64_t env_knob(const char* name, int64_t most) {
  const char* v = std::getenv(name);
  return v == nullptr ? 0 : std::clamp<long long>(std::strtoll(v, nullptr, 10), 0, most);
}

// Blocks of blocks_per_sm resident at once on the current device.
int resident_blocks(int blocks_per_sm) {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    sms = 132;
  }
  return blocks_per_sm * sms;
}

// query(device, value) -> cudaError_t for the current device, asked once per device and kept in
// `cache` (0: not asked yet, else the value + 1). -1 when the device or the query fails.
template <typename Query>
int cached_per_device(std::atomic<int> (&cache)[kMaxDevices], Query query) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device >= kMaxDevices) return -1;
  int known = cache[device].load();
  if (known == 0) {
    int value = 0;
    if (query(device, value) != cudaSuccess) {
      cudaGetLastError();  // the failed query's error, not a kernel's
      return -1;
    }
    known = value + 1;
    cache[device].store(known);
  }
  return known - 1;
}

// Whether `kernel` as it runs on the current device was built from sm_90 or later code, the only
// code that waits at griddepcontrol.wait (a build for sm_80 alone runs its PTX on an H100 without
// the wait, so it must not be launched chained). Remembered per device and kernel instance.
template <typename Kernel>
bool chaining_supported(Kernel kernel) {
  static std::atomic<int> ptx[kMaxDevices];
  return cached_per_device(ptx, [&](int, int& version) {
           cudaFuncAttributes attributes = {};
           const cudaError_t e = cudaFuncGetAttributes(&attributes, kernel);
           version = attributes.ptxVersion;
           return e;
         }) >= 90;
}

// Lets `kernel` take `bytes` of dynamic shared memory (above 48 KB the opt-in is per device and
// kernel; `granted` remembers, per device, the largest size already allowed). A CUDA error code.
template <typename Kernel>
int allow_shared_bytes(Kernel kernel, size_t bytes, std::atomic<size_t> (&granted)[kMaxDevices]) {
  if (bytes <= 48 * 1024) return 0;
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device)) return int(e);
  if (device >= kMaxDevices || granted[device].load() < bytes) {
    if (const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes))) return int(e);
    if (device < kMaxDevices) granted[device].store(bytes);
  }
  return 0;
}

// Launches kernel<<<blocks, threads, bytes, stream>>>(args...), with programmatic stream
// serialization when `chained` and the kernel's code waits for it (chaining_supported).
template <typename... Params, typename... Args>
int launch_maybe_chained(void (*kernel)(Params...), unsigned blocks, unsigned threads, size_t bytes, cudaStream_t stream,
                         bool chained, Args... args) {
  if (chained && chaining_supported(kernel)) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(blocks);
    config.blockDim = dim3(threads);
    config.dynamicSmemBytes = bytes;
    config.stream = stream;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    return int(cudaLaunchKernelEx(&config, kernel, Params(args)...));
  }
  kernel<<<blocks, threads, bytes, stream>>>(Params(args)...);
  return int(cudaGetLastError());
}

}  // namespace
}  // namespace matquant::kernels
