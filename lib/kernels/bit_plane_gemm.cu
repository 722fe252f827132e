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
// (exponent 2^7, level in the mantissa: exact up to level 128). Eq. 6's clamp is applied to the
// rounding plane once per word (clamp_rounding_plane).
// Full int8 codes (level up to 255) do not fit, so they run as top 7 bits and bit 0, two MMAs.
//
// Products. Each decoded word feeds one mma.m16n8k16 (bf16 in, fp32 accumulate): A = 16 rows x
// the 16 columns the warp's four threads hold, B = the same 16 activations for 8 batch rows. bf16
// products are exact in fp32, so per slot C = sum x (128 + level) and
//   sum x w = s (2^(c-r) (C - 128 sum x) - z sum x) = (s 2^(c-r)) C - s (2^(c-r) 128 + z) sum x,
// folded once per slot (a slot lies in one quantization group: group sizes are multiples of 128).
#include "kernels/kernel_common.cuh"

#include <algorithm>
#include <type_traits>

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
// Rows of xs are row_stride apart (the chunk in shared memory, the padded row in a workspace).
__device__ void stage_chunk(const BitPlaneGemm& a, int64_t chunk0, int chunk, int64_t row_stride, __nv_bfloat16* xs,
                            float* slot_sums) {
  const auto* x = static_cast<const __nv_bfloat16*>(a.x);
  const bool vector_loads = a.columns % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const int units_per_row = chunk / 8;  // a multiple of 256, so each half-warp is one slot
  for (int u = threadIdx.x; u < a.batch * units_per_row; u += blockDim.x) {
    const int b = u / units_per_row, i8 = u % units_per_row;
    const int64_t column = chunk0 + int64_t(i8) * 8;
    const __nv_bfloat16* from = x + int64_t(b) * a.columns + column;
    alignas(16) __nv_bfloat16 v[8];
    if (vector_loads && column + 8 <= a.columns) {
      *reinterpret_cast<uint4*>(v) = __ldg(reinterpret_cast<const uint4*>(from));
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = column + e < a.columns ? from[e] : __float2bfloat16(0.0f);
    }
    const int word = i8 / 4, j = i8 % 4;
    float sum = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      xs[int64_t(b) * row_stride + word * 32 + e * 4 + j] = v[e];
      sum += __bfloat162float(v[e]);
    }
#pragma unroll
    for (int offset = 8; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffff, sum, offset, 16);
    if (threadIdx.x % 16 == 0) slot_sums[(i8 / 16) * a.batch + b] = sum;
  }
}

// What one thread reads for one tile: its word of each plane in both slots, for its two rows.
template <int P>
struct TileLoad {
  uint32_t p[2][2][P];  // [slot][row0, row1][plane]
};

// `rows0` and `rows1` point at the thread's two rows (clamped into the matrix: a clamped row's
// result is never written). Tiles past the end are clamped too; their activations are zero.
template <int P>
__device__ __forceinline__ void load_tile(const uint32_t* row0, const uint32_t* row1, int64_t tile, int64_t tiles,
                                          int code_bits, int t, TileLoad<P>& out) {
  // Words t and t + 4 (slots 0 and 1) sit side by side: one 8-byte load per plane and row.
  const int64_t offset = (tile < tiles ? tile : tiles - 1) * code_bits * 8 + 2 * t;
#pragma unroll
  for (int k = 0; k < P; ++k) {
    const uint2 w0 = __ldg(reinterpret_cast<const uint2*>(row0 + offset + k * 8));
    const uint2 w1 = __ldg(reinterpret_cast<const uint2*>(row1 + offset + k * 8));
    out.p[0][0][k] = w0.x, out.p[1][0][k] = w0.y;
    out.p[0][1][k] = w1.x, out.p[1][1][k] = w1.y;
  }
}

// Eq. 6's clamp as a plane: the rounding bit is dropped where the top r bits are all ones (level
// 2^r - 1 would round up to 2^r), so level = top r bits + rounding bit never leaves r bits.
template <Decode kMode, int kBits, int P>
__device__ __forceinline__ void clamp_rounding_plane(TileLoad<P>& load) {
  if constexpr (kMode == Decode::kSliced) {
#pragma unroll
    for (int slot = 0; slot < 2; ++slot) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        uint32_t top = load.p[slot][h][0];
#pragma unroll
        for (int k = 1; k < kBits; ++k) top &= load.p[slot][h][k];
        load.p[slot][h][kBits] &= ~top;
      }
    }
  }
}

// Column tiles of 256 go to the warps round-robin; a round (one tile per warp, 2048 columns) never
// straddles a shared-memory chunk. Each warp loads its next tile's planes before working on the
// current one, and the first before the activations are staged, so plane reads stay in flight.
// At most 80 registers (3 blocks per SM) for slices reading up to 5 planes (int4 and below); more
// planes would spill there, so those get 2 blocks.
template <Decode kMode, int kBits, int kTiles, bool kPrepared>
__global__ void __launch_bounds__(kWarps * 32, planes_read<kMode, kBits>() <= 5 ? 3 : 2)
    bit_plane_gemm_kernel(BitPlaneGemm a, int chunk, float step, float base, const __nv_bfloat16* prepared_x,
                          const float* prepared_sums) {
  constexpr int P = planes_read<kMode, kBits>();
  constexpr bool kSplit = kMode == Decode::kFullSplit;
  constexpr bool prepared = kPrepared;
  // Activations come staged in shared memory chunk by chunk, or (prepared_x) already permuted in a
  // workspace by prepare_activations_kernel, read through L1 with no staging or barriers.
  extern __shared__ __align__(16) unsigned char shared[];
  auto* staged_x = reinterpret_cast<__nv_bfloat16*>(shared);
  float* staged_sums = reinterpret_cast<float*>(staged_x + int64_t(a.batch) * chunk);
  float* reduce = prepared ? reinterpret_cast<float*>(shared) : staged_sums + (chunk / kSlotColumns) * a.batch;
  const __nv_bfloat16* xs = prepared ? prepared_x : staged_x;
  const float* slot_sums = prepared ? prepared_sums : staged_sums;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t row0 = int64_t(blockIdx.x) * kBlockRows + g, row1 = row0 + 8;
  const int64_t rounds = (a.tiles + kWarps - 1) / kWarps;
  const int64_t row_words = a.tiles * a.code_bits * 8;
  const auto* planes = reinterpret_cast<const uint32_t*>(a.planes);
  const uint32_t* row0_words = planes + (row0 < a.rows ? row0 : a.rows - 1) * row_words;
  const uint32_t* row1_words = planes + (row1 < a.rows ? row1 : a.rows - 1) * row_words;
  // Per-channel scales are loaded once; grouped ones per slot.
  float s_row[2], z_row[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t row = h == 0 ? row0 : row1;
    s_row[h] = row < a.rows ? __ldg(a.scale + row * a.groups) : 0.0f;
    z_row[h] = row < a.rows ? __ldg(a.zero + row * a.groups) : 0.0f;
  }
  const int slots_per_group = int(a.group_size / kSlotColumns);
  // The batch row each lane's B fragment comes from: lanes past the batch repeat the last row
  // (their output columns are never used).
  int b_row[kTiles];
#pragma unroll
  for (int nt = 0; nt < kTiles; ++nt) b_row[nt] = min(nt * 8 + g, a.batch - 1);

  float acc[kTiles][4] = {};  // (row0, n), (row0, n + 1), (row1, n), (row1, n + 1); n = 8 tile + 2 t
  TileLoad<P> current, next;
  load_tile<P>(row0_words, row1_words, warp, a.tiles, a.code_bits, t, current);
  int64_t chunk0 = 0;
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t column0 = round * kChunkQuantum;
    if (!kPrepared && (column0 - chunk0 >= chunk || round == 0)) {
      chunk0 = column0;
      __syncthreads();
      stage_chunk(a, chunk0, chunk, chunk, staged_x, staged_sums);
      __syncthreads();
    }
    if (round + 1 < rounds) load_tile<P>(row0_words, row1_words, (round + 1) * kWarps + warp, a.tiles, a.code_bits, t, next);
    const int local_tile = int((column0 - chunk0) / kTileColumns) + warp;
    clamp_rounding_plane<kMode, kBits, P>(current);
#pragma unroll
    for (int slot = 0; slot < 2; ++slot) {
      const int local_word = local_tile * 8 + slot * 4 + t;
      float c[kTiles][4] = {}, c_low[kSplit ? kTiles : 1][4] = {};
#pragma unroll
      for (int m = 0; m < 8; ++m) {
        uint32_t low0 = 0, low1 = 0;
        const uint32_t v0 = decode<kMode, kBits>(current.p[slot][0], m, low0);
        const uint32_t v1 = decode<kMode, kBits>(current.p[slot][1], m, low1);
        uint32_t a0 = __byte_perm(v0, kBf16Magic, 0x4140), a2 = __byte_perm(v0, kBf16Magic, 0x4342);
        uint32_t a1 = __byte_perm(v1, kBf16Magic, 0x4140), a3 = __byte_perm(v1, kBf16Magic, 0x4342);
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt) {
          // This thread's 4 of the MMA's 16 columns are its own word's decoded word m.
          const uint2 bx = *reinterpret_cast<const uint2*>(xs + b_row[nt] * chunk + local_word * 32 + m * 4);
          mma_bf16(c[nt], a0, a1, a2, a3, bx);
          if constexpr (kSplit) {
            mma_bf16(c_low[nt], __byte_perm(low0, kBf16Magic, 0x4140), __byte_perm(low1, kBf16Magic, 0x4140),
                     __byte_perm(low0, kBf16Magic, 0x4342), __byte_perm(low1, kBf16Magic, 0x4342), bx);
          }
        }
      }
      // Fold the slot: (s 2^(c-r)) C - s (2^(c-r) base + z) sum x, per row and batch column.
      const int local_slot = local_tile * 2 + slot;
      float sc[2], off[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float s_here = s_row[h], z_here = z_row[h];
        if (slots_per_group > 0) {  // grouped: this slot's group (clamped past the end, where x is 0)
          const int64_t row = h == 0 ? row0 : row1;
          const int64_t group = min(int64_t(((round * kWarps + warp) * 2 + slot) / slots_per_group), a.groups - 1);
          s_here = row < a.rows ? __ldg(a.scale + row * a.groups + group) : 0.0f;
          z_here = row < a.rows ? __ldg(a.zero + row * a.groups + group) : 0.0f;
        }
        sc[h] = s_here * step;
        off[h] = s_here * (step * base + z_here);
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
    current = next;
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

// The whole activation matrix permuted as stage_chunk permutes a chunk, with every slot's sums:
// one block per 2048 columns.
__global__ void __launch_bounds__(kWarps * 32) prepare_activations_kernel(BitPlaneGemm a, __nv_bfloat16* xs, float* sums) {
  const int64_t chunk0 = int64_t(blockIdx.x) * kChunkQuantum;
  stage_chunk(a, chunk0, kChunkQuantum, gridDim.x * int64_t(kChunkQuantum), xs + chunk0,
              sums + (chunk0 / kSlotColumns) * a.batch);
}

// Columns of a prepared row: the padded row rounded up to whole 2048-column chunks.
int64_t prepared_columns(const BitPlaneGemm& a) {
  return (a.tiles * kTileColumns + kChunkQuantum - 1) / kChunkQuantum * kChunkQuantum;
}
size_t prepared_x_bytes(const BitPlaneGemm& a) { return size_t(a.batch) * prepared_columns(a) * 2; }

template <Decode kMode, int kBits, int kTiles, bool kPrepared>
int launch_instance(const BitPlaneGemm& a, float step, float base, cudaStream_t stream) {
  const bool prepare = kPrepared;
  const int64_t chunk = prepare ? prepared_columns(a) : chunk_columns(a.tiles * kTileColumns, a.batch);
  const size_t bytes = prepare ? size_t(kWarps) * kBlockRows * a.batch * 4 : shared_bytes(chunk, a.batch);
  auto* prepared_x = prepare ? static_cast<__nv_bfloat16*>(a.workspace) : nullptr;
  auto* prepared_sums = prepare ? reinterpret_cast<float*>(static_cast<char*>(a.workspace) + prepared_x_bytes(a)) : nullptr;
  if (prepare) {
    const unsigned chunks = unsigned(prepared_columns(a) / kChunkQuantum);
    prepare_activations_kernel<<<chunks, kWarps * 32, 0, stream>>>(a, prepared_x, prepared_sums);
  }
  auto kernel = bit_plane_gemm_kernel<kMode, kBits, kTiles, kPrepared>;
  static size_t opted_in = 48 * 1024;  // per instantiation; larger shared memory needs an opt-in
  if (bytes > opted_in) {
    if (const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)))
      return int(e);
    opted_in = bytes;
  }
  const unsigned blocks = unsigned((a.rows + kBlockRows - 1) / kBlockRows);
  kernel<<<blocks, kWarps * 32, bytes, stream>>>(a, int(chunk), step, base, prepared_x, prepared_sums);
  return int(cudaGetLastError());
}

template <Decode kMode, int kBits>
int launch_batch(const BitPlaneGemm& a, float step, float base, cudaStream_t stream) {
  // Batch 1 stages its activations per block; larger batches come prepared (workspace required).
  if (a.workspace == nullptr) {
    return a.batch == 1 ? launch_instance<kMode, kBits, 1, false>(a, step, base, stream) : int(cudaErrorInvalidValue);
  }
  return a.batch <= 8 ? launch_instance<kMode, kBits, 1, true>(a, step, base, stream)
                      : launch_instance<kMode, kBits, 2, true>(a, step, base, stream);
}

// Calls f(mode, bits) with the decode and slice width a call needs, as compile-time constants.
template <Decode kMode, typename F>
int with_bits(int bits, F&& f) {
  using M = std::integral_constant<Decode, kMode>;
  switch (bits) {
    case 1: return f(M{}, std::integral_constant<int, 1>{});
    case 2: return f(M{}, std::integral_constant<int, 2>{});
    case 3: return f(M{}, std::integral_constant<int, 3>{});
    case 4: return f(M{}, std::integral_constant<int, 4>{});
    case 5: return f(M{}, std::integral_constant<int, 5>{});
    case 6: return f(M{}, std::integral_constant<int, 6>{});
    case 7: return f(M{}, std::integral_constant<int, 7>{});
    default: return int(cudaErrorInvalidValue);
  }
}

template <typename F>
int with_decode(const BitPlaneGemm& a, F&& f) {
  if (a.level_bits < a.code_bits) {
    return a.extra_precision ? with_bits<Decode::kSlicedExtra>(a.level_bits, f) : with_bits<Decode::kSliced>(a.level_bits, f);
  }
  // Full codes: up to 7 bits fit the bf16 mantissa trick; 8 bits run as 2 (top 7) + bit 0.
  if (a.code_bits == 8) return f(std::integral_constant<Decode, Decode::kFullSplit>{}, std::integral_constant<int, 8>{});
  return with_bits<Decode::kFull>(a.code_bits, f);
}

bool valid(const BitPlaneGemm& a) {
  return a.code_bits >= 1 && a.code_bits <= 8 && a.level_bits >= 1 && a.level_bits <= a.code_bits &&
         (a.group_size == 0 || a.group_size % kSlotColumns == 0) && a.columns <= a.tiles * kTileColumns && a.rows > 0 &&
         a.tiles > 0 && a.rows * a.tiles * 8 < (int64_t(1) << 31);
}

// The r-bit slice as bf16 weights (the prefill path): one warp per row and 256-column tile. The
// tile's plane words are read once (contiguous, two words per lane) and passed round by shuffles;
// lane l decodes words m = 2 (l % 4) and m + 1 of word l / 4 with the matmul kernel's decode, i.e.
// columns 32 w + m + 8 j and the one after, written as bf16 pairs. Values are (step level - z) s
// rounded as ATen's fp32 ops round them, so they equal NestedCodes::dequantize.
template <Decode kMode, int kBits>
__global__ void __launch_bounds__(256) bit_plane_dequantize_kernel(BitPlaneGemm a, __nv_bfloat16* out, float step) {
  constexpr int P = planes_read<kMode, kBits>();
  const int64_t task = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (task >= a.rows * a.tiles) return;  // whole warps leave together
  const int64_t row = task / a.tiles, tile = task % a.tiles;
  const auto* words = reinterpret_cast<const uint32_t*>(a.planes) + (row * a.tiles + tile) * a.code_bits * 8;
  const uint32_t low = lane < 8 * P ? __ldg(words + lane) : 0u;
  const uint32_t high = lane + 32 < 8 * P ? __ldg(words + lane + 32) : 0u;
  const int w = lane / 4, m = 2 * (lane % 4);
  TileLoad<P> load;  // only slot 0, row 0 used: this lane's word of each plane
#pragma unroll
  for (int k = 0; k < P; ++k) {
    const int index = k * 8 + 2 * (w % 4) + w / 4;  // stored position of word w in plane k
    const uint32_t from_low = __shfl_sync(0xffffffffu, low, index % 32);
    const uint32_t from_high = __shfl_sync(0xffffffffu, high, index % 32);
    load.p[0][0][k] = index < 32 ? from_low : from_high;
  }
  if constexpr (kMode == Decode::kSliced) {
    uint32_t top = load.p[0][0][0];
#pragma unroll
    for (int k = 1; k < kBits; ++k) top &= load.p[0][0][k];
    load.p[0][0][kBits] &= ~top;
  }
  uint32_t low0 = 0, low1 = 0;
  uint32_t v0 = decode<kMode, kBits>(load.p[0][0], m, low0);
  uint32_t v1 = decode<kMode, kBits>(load.p[0][0], m + 1, low1);
  if constexpr (kMode == Decode::kFullSplit) v0 = (v0 << 1) | low0, v1 = (v1 << 1) | low1;
  const int64_t column0 = tile * kTileColumns + int64_t(w) * 32 + m;
  const int64_t group = a.group_size > 0 ? column0 / a.group_size : 0;
  const float s = __ldg(a.scale + row * a.groups + group), z = __ldg(a.zero + row * a.groups + group);
  auto value = [&](uint32_t level) { return __fmul_rn(__fsub_rn(__fmul_rn(float(level), step), z), s); };
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int64_t column = column0 + 8 * j;
    if (column >= a.columns) break;
    const uint32_t l0 = (v0 >> (8 * j)) & 0xFFu, l1 = (v1 >> (8 * j)) & 0xFFu;
    __nv_bfloat16* to = out + row * a.columns + column;
    if (column + 1 < a.columns && (reinterpret_cast<uintptr_t>(to) % 4 == 0)) {
      *reinterpret_cast<__nv_bfloat162*>(to) = __floats2bfloat162_rn(value(l0), value(l1));
    } else {
      to[0] = __float2bfloat16_rn(value(l0));
      if (column + 1 < a.columns) to[1] = __float2bfloat16_rn(value(l1));
    }
  }
}

template <Decode kMode, int kBits>
int launch_dequantize(const BitPlaneGemm& a, void* out, float step, cudaStream_t stream) {
  const int64_t threads = a.rows * a.tiles * 32;  // a warp per row and tile
  const unsigned blocks = unsigned((threads + 255) / 256);
  bit_plane_dequantize_kernel<kMode, kBits><<<blocks, 256, 0, stream>>>(a, static_cast<__nv_bfloat16*>(out), step);
  return int(cudaGetLastError());
}

}  // namespace

size_t bit_plane_gemm_workspace_bytes(const BitPlaneGemm& a) {
  // Batch 1 stages its activations in each block's shared memory (cheap, and no extra launch);
  // larger batches would stage batch x columns per 16 rows, so they are prepared once instead.
  if (a.batch <= 1) return 0;
  return prepared_x_bytes(a) + size_t(prepared_columns(a) / kSlotColumns) * a.batch * 4;
}

int launch_bit_plane_gemm(const BitPlaneGemm& a, void* stream_ptr) {
  if (!valid(a) || a.batch < 1 || a.batch > kBitPlaneGemmMaxBatch) return int(cudaErrorInvalidValue);
  const float step = float(1 << (a.code_bits - a.level_bits));
  return with_decode(a, [&](auto mode, auto bits) {
    constexpr Decode kMode = decltype(mode)::value;
    // The levels' offset in the MMA sums: 128 per product, twice over for the split int8 codes.
    const float base = kMode == Decode::kFullSplit ? 3.0f * 128.0f : 128.0f;
    return launch_batch<kMode, decltype(bits)::value>(a, step, base, static_cast<cudaStream_t>(stream_ptr));
  });
}

int launch_bit_plane_dequantize(const BitPlaneGemm& a, void* out, void* stream_ptr) {
  if (!valid(a)) return int(cudaErrorInvalidValue);
  const float step = float(1 << (a.code_bits - a.level_bits));
  return with_decode(a, [&](auto mode, auto bits) {
    return launch_dequantize<decltype(mode)::value, decltype(bits)::value>(a, out, step,
                                                                           static_cast<cudaStream_t>(stream_ptr));
  });
}

}  // namespace matquant::kernels
