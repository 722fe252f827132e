// Low-bit matmul straight from the bit-plane code store (quant/bit_planes.h), for decode-sized
// batches (1..16 rows of activations): the r-bit slice reads only the top r + 1 planes.
//
// Work split. A block owns 16 weight rows and all columns; its 8 warps split the columns in tiles
// of 256 (each of a warp's 4 column threads t takes words t and t + 4 of the tile, so each 128-column
// "slot" of a tile is one word per thread). The activations of the current column chunk sit in
// shared memory, permuted to match the decoded weights (below), with the bf16 sum of each slot.
//
// Decoding. Plane words are turned into bytes with SHF + LOP3 per plane (bit m + 8 j of a plane
// word goes to byte j of "decoded word" m), so one decoded word holds the levels of columns
// m, m + 8, m + 16, m + 24 of a 32-column word. The rounding bit of Eq. 6 is added in the same
// bytes (level = top r bits + bit r), and PRMT turns two bytes into a bf16x2 of 128 + level
// (exponent 2^7, level in the mantissa: exact up to level 128). Eq. 6's clamp is a bf16x2 min.
// Full int8 codes (level up to 255) do not fit, so they run as top 7 bits and bit 0, two MMAs.
//
// Products. Each decoded word feeds one mma.m16n8k16 (bf16 in, fp32 accumulate): A = 16 rows x
// the 16 columns the warp's four threads hold, B = the same 16 activations for 8 batch rows. bf16
// products are exact in fp32, so per slot C = sum x (128 + level) and
//   sum x w = s (2^(c-r) (C - 128 sum x) - z sum x) = (s 2^(c-r)) C - s (2^(c-r) 128 + z) sum x,
// folded once per slot (a slot lies in one quantization group: group sizes are multiples of 128).
#include "kernels/kernel_common.cuh"

#include <algorithm>

namespace matquant::kernels {
namespace {

enum class Decode { kSliced, kSlicedExtra, kFull, kFullSplit };

constexpr int kWarps = 8;
constexpr int kBlockRows = 16;
constexpr int kTileColumns = 256;
constexpr int kSlotColumns = 128;
constexpr int kChunkQuantum = kWarps * kTileColumns;  // 2048: one tile per warp
constexpr uint32_t kByteOnes = 0x01010101u;
constexpr uint32_t kBf16Magic = 0x43434343u;  // bf16 0x43vv = 128 + vv for vv <= 128
constexpr size_t kSharedBudget = 96 * 1024;

template <Decode kMode, int kBits>
constexpr int planes_read() {
  return kMode == Decode::kFullSplit ? 8 : (kMode == Decode::kFull ? kBits : kBits + 1);
}

// Byte j of the result has bit `pos` = bit m + 8 j of `word` (constants after unrolling).
__device__ __forceinline__ uint32_t place(uint32_t word, int m, int pos) {
  const uint32_t shifted = pos >= m ? word << (pos - m) : word >> (m - pos);
  return shifted & (kByteOnes << pos);
}

// Levels of decoded word m from the row's planes (plane 0 = the code's top bit). `low` is bit 0
// for the split full-int8 decode.
template <Decode kMode, int kBits>
__device__ __forceinline__ uint32_t decode(const uint32_t (&p)[planes_read<kMode, kBits>()], int m, uint32_t& low) {
  uint32_t v = 0;
  if constexpr (kMode == Decode::kFullSplit) {
#pragma unroll
    for (int k = 0; k < 7; ++k) v |= place(p[k], m, 6 - k);
    low = place(p[7], m, 0);
  } else if constexpr (kMode == Decode::kFull) {
#pragma unroll
    for (int k = 0; k < kBits; ++k) v |= place(p[k], m, kBits - 1 - k);
  } else {
#pragma unroll
    for (int k = 0; k < kBits; ++k) v |= place(p[k], m, kBits - 1 - k);
    v += place(p[kBits], m, 0);  // round half up on bit r (Eq. 6): at most 2^r, still a byte
  }
  return v;
}

__device__ __forceinline__ uint32_t bf16x2_min(uint32_t a, uint32_t b) {
  uint32_t d;
  asm("min.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint2 b) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b.x), "r"(b.y));
}

// One 32-column plane word of a row, or zero codes past the matrix.
__device__ __forceinline__ uint32_t plane_word(const BitPlaneGemm& a, int k, int64_t row, int64_t word) {
  if (row >= a.rows || word >= a.words) return 0;
  return __ldg(reinterpret_cast<const uint32_t*>(a.planes) + (int64_t(k) * a.rows + row) * a.words + word);
}

// Chunk columns held in shared memory at once for this batch (a multiple of 2048).
int64_t chunk_columns(int64_t padded_columns, int batch) {
  const int64_t per_column = int64_t(batch) * (2 * kSlotColumns + 4) / kSlotColumns + 1;
  const int64_t reduce_bytes = int64_t(kWarps) * kBlockRows * batch * 4;
  int64_t fit = (int64_t(kSharedBudget) - reduce_bytes) / per_column / kChunkQuantum * kChunkQuantum;
  fit = std::max<int64_t>(fit, kChunkQuantum);
  const int64_t needed = (padded_columns + kChunkQuantum - 1) / kChunkQuantum * kChunkQuantum;
  return std::min(fit, needed);
}

size_t shared_bytes(int64_t chunk, int batch) {
  return size_t(batch) * chunk * 2 + size_t(chunk / kSlotColumns) * batch * 4 + size_t(kWarps) * kBlockRows * batch * 4;
}

// Copies x[:, chunk0 : chunk0 + chunk) into shared memory in decoded-word order (column 32 w + m + 8 j
// at 32 w + 4 m + j), zeros past the input, and each 128-column slot's sum per batch row.
__device__ void stage_chunk(const BitPlaneGemm& a, int64_t chunk0, int chunk, __nv_bfloat16* xs, float* slot_sums) {
  const auto* x = static_cast<const __nv_bfloat16*>(a.x);
  const int units_per_row = chunk / 8;  // a multiple of 256, so each half-warp is one slot
  for (int u = threadIdx.x; u < a.batch * units_per_row; u += blockDim.x) {
    const int b = u / units_per_row, i8 = u % units_per_row;
    const int64_t column = chunk0 + int64_t(i8) * 8;
    __nv_bfloat16 v[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = column + e < a.columns ? x[int64_t(b) * a.columns + column + e] : __float2bfloat16(0.0f);
    const int word = i8 / 4, j = i8 % 4;
    float sum = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      xs[int64_t(b) * chunk + word * 32 + e * 4 + j] = v[e];
      sum += __bfloat162float(v[e]);
    }
#pragma unroll
    for (int offset = 8; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffff, sum, offset, 16);
    if (threadIdx.x % 16 == 0) slot_sums[(i8 / 16) * a.batch + b] = sum;
  }
}

template <Decode kMode, int kBits, int kTiles>
__global__ void __launch_bounds__(kWarps * 32)
    bit_plane_gemm_kernel(BitPlaneGemm a, int chunk, float step, float base) {
  constexpr int P = planes_read<kMode, kBits>();
  constexpr bool kSplit = kMode == Decode::kFullSplit;
  extern __shared__ __align__(16) unsigned char shared[];
  auto* xs = reinterpret_cast<__nv_bfloat16*>(shared);
  float* slot_sums = reinterpret_cast<float*>(xs + int64_t(a.batch) * chunk);
  float* reduce = slot_sums + (chunk / kSlotColumns) * a.batch;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t row0 = int64_t(blockIdx.x) * kBlockRows + g, row1 = row0 + 8;
  const uint32_t clamp = (0x4300u | ((1u << kBits) - 1)) * 0x00010001u;
  const int64_t padded = a.words * 32;

  float acc[kTiles][4] = {};  // (row0, n), (row0, n + 1), (row1, n), (row1, n + 1); n = 8 tile + 2 t
  for (int64_t chunk0 = 0; chunk0 < padded; chunk0 += chunk) {
    __syncthreads();
    stage_chunk(a, chunk0, chunk, xs, slot_sums);
    __syncthreads();
    const int64_t here = padded - chunk0 < chunk ? padded - chunk0 : chunk;
    const int tiles = int((here + kTileColumns - 1) / kTileColumns);
    for (int tile = warp; tile < tiles; tile += kWarps) {
      uint32_t p0[2][P], p1[2][P];
#pragma unroll
      for (int slot = 0; slot < 2; ++slot) {
        const int64_t word = chunk0 / 32 + tile * 8 + slot * 4 + t;
#pragma unroll
        for (int k = 0; k < P; ++k) {
          p0[slot][k] = plane_word(a, k, row0, word);
          p1[slot][k] = plane_word(a, k, row1, word);
        }
      }
#pragma unroll
      for (int slot = 0; slot < 2; ++slot) {
        const int local_word = tile * 8 + slot * 4 + t;
        float c[kTiles][4] = {}, c_low[kSplit ? kTiles : 1][4] = {};
#pragma unroll
        for (int m = 0; m < 8; ++m) {
          uint32_t low0 = 0, low1 = 0;
          const uint32_t v0 = decode<kMode, kBits>(p0[slot], m, low0);
          const uint32_t v1 = decode<kMode, kBits>(p1[slot], m, low1);
          uint32_t a0 = __byte_perm(v0, kBf16Magic, 0x4140), a2 = __byte_perm(v0, kBf16Magic, 0x4342);
          uint32_t a1 = __byte_perm(v1, kBf16Magic, 0x4140), a3 = __byte_perm(v1, kBf16Magic, 0x4342);
          if constexpr (kMode == Decode::kSliced) {
            a0 = bf16x2_min(a0, clamp), a1 = bf16x2_min(a1, clamp);
            a2 = bf16x2_min(a2, clamp), a3 = bf16x2_min(a3, clamp);
          }
#pragma unroll
          for (int nt = 0; nt < kTiles; ++nt) {
            // Lanes past the batch read the last row; their output columns are never used.
            const int b = min(nt * 8 + g, a.batch - 1);
            // This thread's columns of the MMA's 16: its own word's decoded word m.
            const uint2 bx = *reinterpret_cast<const uint2*>(xs + int64_t(b) * chunk + local_word * 32 + m * 4);
            mma_bf16(c[nt], a0, a1, a2, a3, bx);
            if constexpr (kSplit) {
              mma_bf16(c_low[nt], __byte_perm(low0, kBf16Magic, 0x4140), __byte_perm(low1, kBf16Magic, 0x4140),
                       __byte_perm(low0, kBf16Magic, 0x4342), __byte_perm(low1, kBf16Magic, 0x4342), bx);
            }
          }
        }
        // Fold the slot: (s 2^(c-r)) C - s (2^(c-r) base + z) sum x, per row and batch column.
        const int64_t column = chunk0 + int64_t(tile * 8 + slot * 4) * 32;
        const int64_t group = a.group_size > 0 ? column / a.group_size : 0;
        const int local_slot = tile * 2 + slot;
        float sc[2] = {0.0f, 0.0f}, off[2] = {0.0f, 0.0f};
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t row = h == 0 ? row0 : row1;
          if (row < a.rows && group < a.groups) {
            const float s = __ldg(a.scale + row * a.groups + group), z = __ldg(a.zero + row * a.groups + group);
            sc[h] = s * step;
            off[h] = s * (step * base + z);
          }
        }
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int n = nt * 8 + 2 * t + e;
            if (n >= a.batch) continue;
            const float sum_x = slot_sums[local_slot * a.batch + n];
            const float c0 = kSplit ? 2.0f * c[nt][e] + c_low[nt][e] : c[nt][e];
            const float c1 = kSplit ? 2.0f * c[nt][2 + e] + c_low[nt][2 + e] : c[nt][2 + e];
            acc[nt][e] += sc[0] * c0 - off[0] * sum_x;
            acc[nt][2 + e] += sc[1] * c1 - off[1] * sum_x;
          }
        }
      }
    }
  }
  // The warps' partial sums over their column tiles, added in shared memory.
#pragma unroll
  for (int nt = 0; nt < kTiles; ++nt) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int n = nt * 8 + 2 * t + e;
      if (n >= a.batch) continue;
      reduce[(warp * a.batch + n) * kBlockRows + g] = acc[nt][e];
      reduce[(warp * a.batch + n) * kBlockRows + g + 8] = acc[nt][2 + e];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < a.batch * kBlockRows; i += blockDim.x) {
    const int n = i / kBlockRows, r = i % kBlockRows;
    const int64_t row = int64_t(blockIdx.x) * kBlockRows + r;
    if (row >= a.rows) continue;
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w) sum += reduce[(w * a.batch + n) * kBlockRows + r];
    if (a.bias != nullptr) sum += __bfloat162float(static_cast<const __nv_bfloat16*>(a.bias)[row]);
    static_cast<__nv_bfloat16*>(a.y)[int64_t(n) * a.rows + row] = __float2bfloat16_rn(sum);
  }
}

template <Decode kMode, int kBits, int kTiles>
int launch_instance(const BitPlaneGemm& a, float step, float base, cudaStream_t stream) {
  const int64_t chunk = chunk_columns(a.words * 32, a.batch);
  const size_t bytes = shared_bytes(chunk, a.batch);
  auto kernel = bit_plane_gemm_kernel<kMode, kBits, kTiles>;
  static size_t opted_in = 48 * 1024;  // per instantiation; larger shared memory needs an opt-in
  if (bytes > opted_in) {
    if (const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)))
      return int(e);
    opted_in = bytes;
  }
  const unsigned blocks = unsigned((a.rows + kBlockRows - 1) / kBlockRows);
  kernel<<<blocks, kWarps * 32, bytes, stream>>>(a, int(chunk), step, base);
  return int(cudaGetLastError());
}

template <Decode kMode, int kBits>
int launch_batch(const BitPlaneGemm& a, float step, float base, cudaStream_t stream) {
  return a.batch <= 8 ? launch_instance<kMode, kBits, 1>(a, step, base, stream)
                      : launch_instance<kMode, kBits, 2>(a, step, base, stream);
}

template <Decode kMode>
int launch_bits(int bits, const BitPlaneGemm& a, float step, float base, cudaStream_t stream) {
  switch (bits) {
    case 1: return launch_batch<kMode, 1>(a, step, base, stream);
    case 2: return launch_batch<kMode, 2>(a, step, base, stream);
    case 3: return launch_batch<kMode, 3>(a, step, base, stream);
    case 4: return launch_batch<kMode, 4>(a, step, base, stream);
    case 5: return launch_batch<kMode, 5>(a, step, base, stream);
    case 6: return launch_batch<kMode, 6>(a, step, base, stream);
    case 7: return launch_batch<kMode, 7>(a, step, base, stream);
    default: return int(cudaErrorInvalidValue);
  }
}

bool valid(const BitPlaneGemm& a) {
  return a.code_bits >= 1 && a.code_bits <= 8 && a.level_bits >= 1 && a.level_bits <= a.code_bits &&
         (a.group_size == 0 || a.group_size % kSlotColumns == 0) && a.columns <= a.words * 32 && a.rows > 0;
}

// Levels of one code of the r-bit slice from its top bits (the planes a slice reads).
__device__ __forceinline__ int slice_level(int top, int code_bits, int level_bits, bool extra_precision) {
  if (level_bits >= code_bits) return top;
  const int level = (top + 1) >> 1;
  return extra_precision ? level : min(level, (1 << level_bits) - 1);
}

__global__ void bit_plane_dequantize_kernel(BitPlaneGemm a, __nv_bfloat16* out) {
  const int64_t index = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= a.rows * a.words) return;
  const int64_t row = index / a.words, word = index % a.words;
  const int read = a.level_bits >= a.code_bits ? a.code_bits : a.level_bits + 1;
  uint32_t p[8];
  for (int k = 0; k < read; ++k) p[k] = plane_word(a, k, row, word);
  const float step = float(1 << (a.code_bits - a.level_bits));
  for (int j = 0; j < 32; ++j) {
    const int64_t column = word * 32 + j;
    if (column >= a.columns) break;
    int top = 0;
    for (int k = 0; k < read; ++k) top = (top << 1) | int((p[k] >> j) & 1u);
    const int64_t group = a.group_size > 0 ? column / a.group_size : 0;
    const float s = a.scale[row * a.groups + group], z = a.zero[row * a.groups + group];
    // (step * level - z) * s, each operation rounded as ATen's fp32 ops round them.
    const float code = __fmul_rn(float(slice_level(top, a.code_bits, a.level_bits, a.extra_precision)), step);
    out[row * a.columns + column] = __float2bfloat16_rn(__fmul_rn(__fsub_rn(code, z), s));
  }
}

}  // namespace

int launch_bit_plane_gemm(const BitPlaneGemm& a, void* stream_ptr) {
  if (!valid(a) || a.batch < 1 || a.batch > kBitPlaneGemmMaxBatch) return int(cudaErrorInvalidValue);
  const auto stream = static_cast<cudaStream_t>(stream_ptr);
  const float step = float(1 << (a.code_bits - a.level_bits));
  if (a.level_bits < a.code_bits) {
    return a.extra_precision ? launch_bits<Decode::kSlicedExtra>(a.level_bits, a, step, 128.0f, stream)
                             : launch_bits<Decode::kSliced>(a.level_bits, a, step, 128.0f, stream);
  }
  // Full codes: up to 7 bits fit the bf16 mantissa trick; 8 bits run as 2 (top 7) + bit 0.
  if (a.code_bits == 8) return launch_batch<Decode::kFullSplit, 8>(a, 1.0f, 3.0f * 128.0f, stream);
  return launch_bits<Decode::kFull>(a.code_bits, a, 1.0f, 128.0f, stream);
}

int launch_bit_plane_dequantize(const BitPlaneGemm& a, void* out, void* stream_ptr) {
  if (!valid(a)) return int(cudaErrorInvalidValue);
  const int64_t threads = a.rows * a.words;
  if (threads == 0) return 0;
  const unsigned blocks = unsigned((threads + 255) / 256);
  bit_plane_dequantize_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream_ptr)>>>(
      a, static_cast<__nv_bfloat16*>(out));
  return int(cudaGetLastError());
}

}  // namespace matquant::kernels
