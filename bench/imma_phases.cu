// Where a chained call of the integer slice-pack kernel spends its time: built with
// -DMATQUANT_SLICE_PACK_PHASES, the kernel's thread 0 reads the SM clock at entry, before and after
// griddepcontrol.wait, after x's max, after the conversion, after the main loop, after the block
// barrier and at the end (lib/kernels/slice_pack_imma.cu); this driver replays 200 chained calls
// from a CUDA graph (weights cycled past the L2, as matquant_bench_bit_planes does) and prints the
// mean of each phase per block, in clocks and in us at the clock rate the same blocks ran at.
// Built without the define (for ncu), it only times the calls.
// build-device/bench/matquant_bench_imma_phases, or alone:
//   nvcc -O3 -std=c++17 -Ilib -arch=sm_90 -DMATQUANT_SLICE_PACK_PHASES bench/imma_phases.cu \
//        lib/kernels/slice_pack_imma.cu -o imma_phases && ./imma_phases
#include "plain_cuda.cuh"
#include "kernels/launchers.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#ifdef MATQUANT_SLICE_PACK_PHASES
namespace matquant::kernels {
void read_slice_pack_phases(unsigned long long (&out)[10]);
}
#else
namespace matquant::kernels {
// Built without the stamps (for a profiler): nothing to read.
inline void read_slice_pack_phases(unsigned long long (&out)[10]) {
  for (auto& v : out) v = 1;
}
}  // namespace matquant::kernels
#endif

namespace {

void run(const char* name, int64_t rows, int64_t columns, int width) {
  using namespace matquant::kernels;
  const int64_t chunks = columns / 128;
  const size_t word_bytes = size_t(rows) * columns * width / 8;
  const int copies = int(240.0 * 1048576 / word_bytes) + 2;
  std::mt19937 rng(7);
  std::vector<uint32_t> words(word_bytes / 4);
  for (auto& w : words) w = rng();
  int32_t* d_words = nullptr;
  CUDA_CHECK(cudaMalloc(&d_words, word_bytes * copies));
  for (int c = 0; c < copies; ++c) CUDA_CHECK(cudaMemcpy(reinterpret_cast<char*>(d_words) + c * word_bytes, words.data(), word_bytes, cudaMemcpyHostToDevice));
  std::vector<float> scale(size_t(rows), 0.01f), zero(size_t(rows), 7.5f);
  std::vector<__nv_bfloat16> x(static_cast<size_t>(columns));
  std::normal_distribution<float> normal;
  for (auto& v : x) v = __float2bfloat16(normal(rng));
  float *d_scale, *d_zero;
  __nv_bfloat16 *d_x, *d_y;
  CUDA_CHECK(cudaMalloc(&d_scale, rows * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&d_zero, rows * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&d_x, columns * sizeof(__nv_bfloat16)));
  CUDA_CHECK(cudaMalloc(&d_y, rows * sizeof(__nv_bfloat16)));
  CUDA_CHECK(cudaMemcpy(d_scale, scale.data(), rows * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(d_zero, zero.data(), rows * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(d_x, x.data(), columns * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  SlicePackGemm a;
  a.rows = rows, a.chunks = chunks, a.width = width, a.step = 1.0f, a.scale = d_scale, a.zero = d_zero, a.x = d_x;
  a.y = d_y, a.chained = true, a.integer_mma = kSlicePackIntegerMmaOn;
  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  constexpr int kCalls = 200;
  for (int c = 0; c < copies; ++c) {  // warm-up: kernel attributes
    a.words = reinterpret_cast<const int32_t*>(reinterpret_cast<char*>(d_words) + c * word_bytes);
    CUDA_CHECK(cudaError_t(launch_slice_pack_imma(a, stream)));
  }
  unsigned long long sums[10];
  // The last of 4 replays is kept: the stamps are zeroed before each.
  const double us = graph_replay_us(
      stream, kCalls, 4,
      [&](int i) {
        a.words = reinterpret_cast<const int32_t*>(reinterpret_cast<char*>(d_words) + (i % copies) * word_bytes);
        CUDA_CHECK(cudaError_t(launch_slice_pack_imma(a, stream)));
      },
      [&] { read_slice_pack_phases(sums); });
  read_slice_pack_phases(sums);
  const double n = double(sums[0]);
  std::printf("%-8s %6lld %6lld %2d %7.2f %5.0f", name, (long long)rows, (long long)columns, width, us,
              n / kCalls);
  // Phases in SM clocks (clock64); the clock rate from the same blocks' entry-to-end span in ns.
  const double ghz = double(sums[9]) / double(sums[8]);
  for (int k = 1; k < 8; ++k) std::printf(" %8.0f", sums[k] / n);
  std::printf("  %5.2f GHz;", ghz);
  for (int k = 1; k < 8; ++k) std::printf(" %5.2f", sums[k] / n / ghz / 1000.0);
  std::printf("\n");
  for (void* p : {static_cast<void*>(d_words), static_cast<void*>(d_scale), static_cast<void*>(d_zero), static_cast<void*>(d_x),
                  static_cast<void*>(d_y)}) {
    CUDA_CHECK(cudaFree(p));
  }
  CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace

// No arguments: every shape below; `rows columns width`: that call alone.
int main(int argc, char** argv) {
  if (argc == 4) {
    run("call", std::atoll(argv[1]), std::atoll(argv[2]), std::atoi(argv[3]));
    return 0;
  }
  std::printf("clocks per block (thread 0): entry->ring issued, ->wait returned, ->x max, ->converted, ->main loop, ->barrier, ->end; then the clock rate and the same in us\n");
  std::printf("%-8s %6s %6s %2s %7s %5s %8s %8s %8s %8s %8s %8s %8s\n", "shape", "rows", "cols", "w", "us/call", "blks",
              "issue", "wait", "x", "convert", "loop", "barrier", "epilog");
  for (const int width : {4, 2, 8}) {
    run("m-k/v", 1024, 4096, width);
    run("m-q", 4096, 4096, width);
    run("g-k/v", 2048, 3584, width);
    run("g-qkv", 8192, 3584, width);
    run("m-up", 14336, 4096, width);
  }
  return 0;
}
