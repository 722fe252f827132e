// Decode-sized matmuls (1..16 activation rows) straight from a slice pack (quant/slice_pack.h):
// the r-bit slice's levels stored at 2, 4 or 8 bits in the order the tensor cores take them, so a
// call reads `width` bits per weight and decodes each pair of levels with one shift and one LOP3.
//
// Work split. A unit is one row tile of 16 weight rows, or two at batch 1 when the call is chained
// (batch1_row_tiles). A block of 8 warps per row tile owns a run of consecutive units (as many as keep
// the grid to one wave of resident blocks: on a 132-SM H200 one unit for 4096-row projections, 4 for
// 14336-row ones); its warps take each unit's 128-column chunks round-robin, walking
// the units one after the other without a barrier, and add their partial sums in shared memory once
// at the end. Each lane keeps the next chunks of its weight words in flight (128 bytes) across unit
// boundaries. Two row tiles share each chunk's activation loads and give two independent MMA chains.
//
// Chaining. Launched with programmatic stream serialization (SlicePackGemm::chained, sm_90), a grid
// reads its weights and scales before griddepcontrol.wait and its activations after it, so its start
// overlaps the previous kernel's end; a grid that fills the GPU, or any batch-1 two-tile grid, lets
// the next one launch at once (a small one leaves SMs where the next calls load their weights).
//
// Decoding. A lane's word holds, per mma.m16n8k16 step, the levels of its A fragment: register i of
// the fragment takes the fields at bit offsets f(i) and f(i) + 16, and ((word >> f(i)) & mask) | 0x4300
// 4300 is a bf16x2 of 128 + level (exponent 2^7, level in the mantissa). Width 8 runs as two nibble
// words (high and low) and two MMAs. The activations (B) of a lane's chunk are 64 contiguous bytes
// per batch row, four 16-byte loads through the read-only cache. (Staging them in shared memory
// per block measured slower: H200, 2026-11-30.)
//
// Products. bf16 products are exact in fp32, so C = sum x (base + level) with base = 128 (17 x 128
// for width 8, whose C is 16 C_high + C_low). A second MMA with A = 1 gives sum x in the same
// fragment layout (at batch 1 the lanes add it themselves: see Accumulators), and per quantization
// group (a chunk lies in one)
//   sum x w = s (step (C - base sum x) - z sum x) = (s step) C - s (step base + z) sum x.
// Batch 1 with per-channel scales (what decoding runs) defers that fold to the epilogue: warps park
// their raw C, and the block applies s, z and sum x once per row. The per-unit fold (a warp
// reduction, the scale loads and their 64-bit address arithmetic) had cost about as many
// instructions as the MMAs and decodes of the unit's chunks. Width 2 there decodes three of its
// four fields per byte in place (width2_fragment_in_place), 3 shifts per word instead of 7.
#include "kernels/kernel_common.cuh"
#include "kernels/slice_pack_launch.cuh"

#include <algorithm>
#include <atomic>
#include <cstdlib>

namespace matquant::kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kRowTile = 16;
constexpr int kChunkColumns = 128;
constexpr int kSteps = kChunkColumns / 16;  // MMA steps per chunk
constexpr uint32_t kMagic = 0x43004300u;    // bf16x2 (128, 128); OR-ing a level < 128 into a half adds it
constexpr uint32_t kOnes = 0x3F803F80u;     // bf16x2 (1, 1)

template <int kWidth>
struct Pack {
  static constexpr int kLoads = kWidth / 2;        // 16-byte loads per lane and chunk
  static constexpr int kWords = 4 * kLoads;        // words per lane and chunk
  static constexpr float kBase = kWidth == 8 ? 17.0f * 128.0f : 128.0f;
};

// (word & mask) | exponent in one LOP3 (the compiler splits an AND and an OR of two constants).
// With exponent kMagic (2^7) the field in bits 0-3 of each half reads 128 + level; more generally
// a field reads exponent + level when the exponent makes its lowest bit worth 1 (bits 2-3 under
// 2^5, bits 4-5 under 2^3; bits 6-7 would reach into the exponent).
__device__ __forceinline__ uint32_t to_bf16_pair(uint32_t word, uint32_t mask, uint32_t exponent = kMagic) {
  uint32_t out;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(out) : "r"(word), "r"(mask), "r"(exponent));
  return out;
}
constexpr uint32_t kExponent32 = 0x42004200u, kExponent8 = 0x41004100u;

// Width 2 at batch 1 with per-channel scales (the deferred path): three of the four fields of a
// half's byte decode where they lie, so a word takes 3 shifts (by 6, 8 and 14) instead of 7. The
// registers' bases then differ: a0 (row g, q = 0, 1) 128, a1 (row g + 8, q = 0, 1) 32, a2 (row g,
// q = 2, 3) 8 and a3 (row g + 8, q = 2, 3) 128, so C holds sum x level + 128 S_lo + 8 S_hi for row
// g and + 32 S_lo + 128 S_hi for row g + 8 (S_lo, S_hi: sum x over the columns of q = 0, 1 and
// q = 2, 3), which the epilogue removes.
__device__ __forceinline__ void width2_fragment_in_place(uint32_t word, int s, uint32_t& a0, uint32_t& a1,
                                                         uint32_t& a2, uint32_t& a3) {
  const uint32_t v = s % 2 == 0 ? word : word >> 8;
  a0 = to_bf16_pair(v, 0x00030003u);
  a1 = to_bf16_pair(v, 0x000C000Cu, kExponent32);
  a2 = to_bf16_pair(v, 0x00300030u, kExponent8);
  a3 = to_bf16_pair(word >> (s % 2 == 0 ? 6 : 14), 0x00030003u);
}

// Register i (0..3) of step s's A fragment from a lane's chunk words: levels at offset f and f + 16.
template <int kWidth>
__device__ __forceinline__ uint32_t fragment_register(const uint32_t (&w)[Pack<kWidth>::kWords], int s, int i,
                                                      bool low_nibbles) {
  if constexpr (kWidth == 2) {
    return to_bf16_pair(w[s / 2] >> (2 * (4 * (s % 2) + i)), 0x00030003u);
  } else if constexpr (kWidth == 4) {
    return to_bf16_pair(w[s] >> (4 * i), 0x000F000Fu);
  } else {
    return to_bf16_pair(w[2 * s + (low_nibbles ? 1 : 0)] >> (4 * i), 0x000F000Fu);
  }
}

// A lane's words of one chunk of kRowTiles row tiles.
template <int kWidth, int kRowTiles>
struct ChunkWords {
  uint4 v[kRowTiles][Pack<kWidth>::kLoads];
};

// With one batch tile and one row tile, two of each accumulator, taken by even and odd steps: two
// independent MMA chains per product instead of one, so a warp's 8 steps per chunk do not wait on
// each other's MMA latency (two batch tiles or two row tiles are two chains already, and more
// registers would spill).
// kOneRow (batch 1): sum x comes from the lanes' own adds (lane_x_low + lane_x_high, summed over
// the warp at each fold, or once at the end on the deferred path) instead of the ones-MMA, which
// was half of the MMAs at widths 2 and 4 (a third at 8).
// sum x does not depend on the weight row: row tiles share it.
template <int kWidth, int kTiles, bool kOneRow, int kRowTiles>
struct Accumulators {
  static constexpr int kChains = kTiles == 1 && kRowTiles == 1 ? 2 : 1;
  static constexpr int kLow = kWidth == 8 ? kTiles : 1;
  float c[kChains][kRowTiles][kTiles][4];    // sum x (base + level), high nibbles for width 8
  float low[kChains][kRowTiles][kLow][4];    // width 8: sum x (128 + low nibble)
  float sum_x[kChains][kTiles][4];           // sum x, in the same fragment layout
  // kOneRow: this lane's share of sum x (4 columns per chunk), over the columns of q = 0, 1 (low)
  // and q = 2, 3 (high).
  float lane_x_low, lane_x_high;
  __device__ __forceinline__ void clear() {
    lane_x_low = lane_x_high = 0.0f;
    clear_products();
  }
  __device__ __forceinline__ void clear_products() {
#pragma unroll
    for (int k = 0; k < kChains; ++k) {
#pragma unroll
      for (int nt = 0; nt < kTiles; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          sum_x[k][nt][e] = 0.0f;
#pragma unroll
          for (int rt = 0; rt < kRowTiles; ++rt) c[k][rt][nt][e] = 0.0f, low[k][rt][kWidth == 8 ? nt : 0][e] = 0.0f;
        }
      }
    }
  }
  __device__ __forceinline__ float products(int rt, int nt, int e) const {
    float high = 0.0f, low_sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kChains; ++k) high += c[k][rt][nt][e], low_sum += low[k][rt][kWidth == 8 ? nt : 0][e];
    return kWidth == 8 ? 16.0f * high + low_sum : high;
  }
  __device__ __forceinline__ float sums(int nt, int e) const {
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kChains; ++k) sum += sum_x[k][nt][e];
    return sum;
  }
};

// One chunk's MMAs: 8 steps of 16 columns, for each of kRowTiles row tiles. Lane (g, t) holds
// columns 32 t + 4 s .. + 3 of step s (the pack's order): its B registers of a chunk are 64
// contiguous bytes per batch row, four 16-byte loads, shared by the row tiles.
// kInPlace: width 2 decoded by width2_fragment_in_place (the deferred path). add_x_sums: kOneRow
// lanes add this chunk's columns to their sums of x.
template <int kWidth, int kTiles, bool kOneRow, int kRowTiles, bool kInPlace>
__device__ __forceinline__ void multiply_chunk(const ChunkWords<kWidth, kRowTiles>& words,
                                               const __nv_bfloat16* (&x_rows)[kTiles], const __nv_bfloat16* x_sum_row,
                                               int64_t column0, bool add_x_sums,
                                               Accumulators<kWidth, kTiles, kOneRow, kRowTiles>& acc) {
  if (kOneRow && add_x_sums) {
    // Lane (g, t) adds columns 32 t + 4 g .. + 3 (q = 0..3): the warp's lanes cover the chunk once.
    // A bf16 is the top half of its fp32.
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(x_sum_row + column0));
    acc.lane_x_low += __uint_as_float(v.x << 16) + __uint_as_float(v.x & 0xFFFF0000u);
    acc.lane_x_high += __uint_as_float(v.y << 16) + __uint_as_float(v.y & 0xFFFF0000u);
  }
  uint32_t w[kRowTiles][Pack<kWidth>::kWords];
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int j = 0; j < Pack<kWidth>::kLoads; ++j) {
      const uint4 v = words.v[rt][j];
      w[rt][4 * j] = v.x, w[rt][4 * j + 1] = v.y, w[rt][4 * j + 2] = v.z, w[rt][4 * j + 3] = v.w;
    }
  }
  uint2 b[kTiles][kSteps];
#pragma unroll
  for (int nt = 0; nt < kTiles; ++nt) {
    const uint4* x = reinterpret_cast<const uint4*>(x_rows[nt] + column0);
#pragma unroll
    for (int q = 0; q < kSteps / 2; ++q) {
      const uint4 v = __ldg(x + q);
      b[nt][2 * q] = make_uint2(v.x, v.y), b[nt][2 * q + 1] = make_uint2(v.z, v.w);
    }
  }
#pragma unroll
  for (int s = 0; s < kSteps; ++s) {
    constexpr int kChains = Accumulators<kWidth, kTiles, kOneRow, kRowTiles>::kChains;
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
      uint32_t a0, a1, a2, a3;
      if constexpr (kInPlace && kWidth == 2) {
        width2_fragment_in_place(w[rt][s / 2], s, a0, a1, a2, a3);
      } else {
        a0 = fragment_register<kWidth>(w[rt], s, 0, false), a1 = fragment_register<kWidth>(w[rt], s, 1, false);
        a2 = fragment_register<kWidth>(w[rt], s, 2, false), a3 = fragment_register<kWidth>(w[rt], s, 3, false);
      }
#pragma unroll
      for (int nt = 0; nt < kTiles; ++nt) mma_bf16(acc.c[s % kChains][rt][nt], a0, a1, a2, a3, b[nt][s]);
      if constexpr (kWidth == 8) {
        const uint32_t l0 = fragment_register<kWidth>(w[rt], s, 0, true), l1 = fragment_register<kWidth>(w[rt], s, 1, true);
        const uint32_t l2 = fragment_register<kWidth>(w[rt], s, 2, true), l3 = fragment_register<kWidth>(w[rt], s, 3, true);
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt) mma_bf16(acc.low[s % kChains][rt][nt], l0, l1, l2, l3, b[nt][s]);
      }
    }
    if constexpr (!kOneRow) {
#pragma unroll
      for (int nt = 0; nt < kTiles; ++nt) mma_bf16(acc.sum_x[s % kChains][nt], kOnes, kOnes, kOnes, kOnes, b[nt][s]);
    }
  }
}

// Floats of shared memory: each row tile's partial sums per warp, batch row and row.
__host__ __device__ inline int64_t partial_floats(int64_t row_tiles_per_block, int warps, int batch) {
  return row_tiles_per_block * warps * batch * kRowTile;
}

// A block of 8 kRowTiles warps owns a run of units (kRowTiles consecutive row tiles); its warps take
// each unit's chunks round-robin. At most 128 registers: 16 warps per SM (with 8-warp blocks, 3
// blocks of 80 registers measured faster on gate/up at int4 and int2 but slower on every other
// shape, H200). early_trigger: let the next chained kernel launch at this one's start (the grid
// fills the GPU, so its blocks only take SMs this grid leaves, or it is a batch-1 two-tile grid,
// whose idle SMs the next calls load their weights on) rather than after the block's barrier that
// follows the main loop.
template <int kWidth, int kTiles, bool kOneRow, bool kGrouped, int kRowTiles>
__global__ void __launch_bounds__(kWarps * kRowTiles * 32, 2 / kRowTiles)
    slice_pack_gemm_kernel(SlicePackGemm a, int units_per_block, bool early_trigger, int prefetch_bytes) {
  using P = Pack<kWidth>;
  constexpr int kBlockWarps = kWarps * kRowTiles;
  // Batch 1 with per-channel scales defers the scales and the bases: warps park their raw C per unit
  // and the epilogue applies s, z and sum x once per row (sum x over all columns, which the block's
  // warps add up in their first unit: every unit repeats a warp's chunks). Width 2 then decodes in
  // place (width2_fragment_in_place).
  constexpr bool kDeferred = kOneRow && !kGrouped;
  // 128 bytes per lane (192 measured slower at batch 1 with two row tiles: H200, 2026-12-01).
  constexpr int kDepth = P::kLoads * kRowTiles >= 8 ? 1 : 8 / (P::kLoads * kRowTiles);
  extern __shared__ __align__(16) float partials[];  // [row tile][warp][n][16]
  if (early_trigger) let_next_grid_launch();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const BlockUnits share(a.rows, a.chunks, kRowTiles, units_per_block, warp, kBlockWarps);
  const int64_t row_tiles = share.row_tiles, first_unit = share.first_unit;
  const int my_units = share.units, whole_units = share.whole_units, slots = share.slots;
  const int64_t columns = a.chunks * kChunkColumns;
  const uint4* words = reinterpret_cast<const uint4*>(a.words) + lane;
  // The warp walks (unit, j) pairs: unit first_unit + unit, chunk warp + kBlockWarps j. Cursors
  // advance by one pair per chunk (no divisions in the loop): `next` is what the ring loads next,
  // and `from` the offset of its first row tile's words (one 32-bit add per chunk: on within the
  // unit, or on to the next unit's first chunk; valid() keeps a pack's words below 2^31 uint4); a
  // unit's next row tile is tile_words further.
  struct Cursor {
    int unit = 0, j = 0;
    __device__ void advance(int slots) {
      if (++j == slots) j = 0, ++unit;
    }
  };
  Cursor next;
  constexpr int64_t kChunkWords = P::kLoads * 32;  // uint4 per chunk
  const int tile_words = int(a.chunks * kChunkWords);
  int from = int((first_unit * kRowTiles * a.chunks + warp) * kChunkWords);
  constexpr int within_unit = kBlockWarps * kChunkWords;
  const int to_next_unit = int((kRowTiles * a.chunks - int64_t(kBlockWarps) * (slots - 1)) * kChunkWords);
  // The batch row of this lane's B fragment (n = 8 nt + g). Lanes past the batch repeat the last
  // row (no predicate on the loads; a warp's lanes of one t read one address): their output
  // columns are never used.
  const __nv_bfloat16* x_rows[kTiles];
#pragma unroll
  for (int nt = 0; nt < kTiles; ++nt) {
    const int n = min(nt * 8 + g, a.batch - 1);
    x_rows[nt] = static_cast<const __nv_bfloat16*>(a.x) + n * columns + 32 * t;
  }
  // Loads the next chunk's words into ring slot d. A unit's missing last row tile (odd row tiles)
  // reads its first again; those rows are never written. (Prefetching the activations into L1 here
  // measured no faster at batch 1 and slower at 16: H200, 2026-11-30.)
  ChunkWords<kWidth, kRowTiles> ring[kDepth];
  auto load = [&](int d) {
    if (next.unit >= my_units || slots == 0) return;
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
      const bool present = rt == 0 || next.unit < whole_units;
      const uint4* p = words + (from + (present ? rt * tile_words : 0));
#pragma unroll
      for (int j = 0; j < P::kLoads; ++j) ring[d].v[rt][j] = load_streaming(p + j * 32);
    }
    from += next.j == slots - 1 ? to_next_unit : within_unit;
    next.advance(slots);
  };
#pragma unroll
  for (int d = 0; d < kDepth; ++d) load(d);
  // The rest of the block's words, past the units the rings hold, up to prefetch_bytes
  // (MATQUANT_SLICE_PACK_L2_PREFETCH_MB; 0 by default): each warp's lane 0 asks for its share.
  // Measured no faster at 8 MB a call and slower at 24 and 48 (H200, 2026-12-01). The block stays
  // for what it does to the code around it: without it ptxas schedules griddepcontrol.wait ahead of
  // the ring's loads in the batch-1 one-tile int8 and group-wise instances (their SASS: none of the
  // 8 loads before it; int4 per channel 6 of 8), so those loaded little or no weight before the
  // previous kernel ended; with it, chained int8 took 4-14 % less time on every shape but k/v, whose
  // small grid lets the next call launch only after its main loop. The per-channel two-tile
  // instances keep the order without it (and are measured without it); batches above 1 are not
  // measured with it. tests/kernels/check_slice_pack_wait_order.sh reads the SASS for the order.
  if constexpr (kOneRow && (kRowTiles == 1 || kGrouped)) {
    if (prefetch_bytes > 0 && lane == 0 && slots > 0) {
      const int skip_units = min(my_units, kDepth / slots);
      const int64_t begin = (first_unit + skip_units) * kRowTiles * a.chunks * kChunkWords * 16;
      const int64_t end = min(begin + prefetch_bytes, min((first_unit + my_units) * kRowTiles, row_tiles) * a.chunks * kChunkWords * 16);
      const int64_t share = ((end - begin) / kBlockWarps + 15) / 16 * 16;
      const int64_t from_byte = begin + warp * share;
      if (from_byte < end) {
        prefetch_to_l2(reinterpret_cast<const char*>(a.words) + from_byte, uint32_t(min(share, end - from_byte)));
      }
    }
  }

  const __nv_bfloat16* x_sum_row = static_cast<const __nv_bfloat16*>(a.x) + 32 * t + 4 * g;
  Accumulators<kWidth, kTiles, kOneRow, kRowTiles> acc;
  acc.clear();
  float out[kRowTiles][kTiles][4] = {};
  // Scales of rows g and g + 8 of a unit's row tiles (per channel: loaded a unit ahead, so the fold
  // at the unit's end does not wait on them).
  float s_row[kRowTiles][2], z_row[kRowTiles][2];
  auto load_scales = [&](int64_t unit, int64_t group) {
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = (unit * kRowTiles + rt) * kRowTile + g + 8 * h;
        s_row[rt][h] = row < a.rows ? __ldg(a.scale + row * a.groups + group) : 0.0f;
        z_row[rt][h] = row < a.rows ? __ldg(a.zero + row * a.groups + group) : 0.0f;
      }
    }
  };
  if (!kGrouped && !kDeferred) load_scales(first_unit, 0);
  // The deferred epilogue's scales for a thread's first row, loaded now so the tail does not wait.
  float s_first = 0.0f, z_first = 0.0f;
  if constexpr (kDeferred) {
    const int64_t row = first_unit * kRowTiles * kRowTile + threadIdx.x;
    if (threadIdx.x < my_units * kRowTiles * kRowTile && row < a.rows) {
      s_first = __ldg(a.scale + row * a.groups), z_first = __ldg(a.zero + row * a.groups);
    }
  }
  wait_for_previous_grid();  // everything above reads constants; x and y are the previous kernel's
  // out += (s step) C - s (step base + z) sum x, per row (c2, c3: row g + 8) and batch column.
  auto fold = [&]() {
    float x_total = acc.lane_x_low + acc.lane_x_high;
    if constexpr (kOneRow) {
#pragma unroll
      for (int o = 16; o > 0; o /= 2) x_total += __shfl_xor_sync(0xFFFFFFFFu, x_total, o);
    }
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            out[rt][nt][2 * h + e] +=
                s_row[rt][h] * a.step * acc.products(rt, nt, 2 * h + e) -
                s_row[rt][h] * (a.step * P::kBase + z_row[rt][h]) * (kOneRow ? x_total : acc.sums(nt, 2 * h + e));
          }
        }
      }
    }
    acc.clear();
  };
  const int items = my_units * slots;
  const int chunks_per_group = kGrouped ? int(a.group_size / kChunkColumns) : 1;
  Cursor at;
  for (int i = 0; i < items; i += kDepth) {
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      if (i + d >= items) break;
      const int64_t chunk = warp + int64_t(kBlockWarps) * at.j, unit = first_unit + at.unit;
      if (kGrouped) load_scales(unit, int(chunk) / chunks_per_group);
      multiply_chunk<kWidth, kTiles, kOneRow, kRowTiles, kDeferred>(ring[d], x_rows, x_sum_row, chunk * kChunkColumns,
                                                                    !kDeferred || at.unit == 0, acc);
      load(d);
      if (kGrouped) fold();
      const bool last_of_unit = at.j == slots - 1;
      at.advance(slots);
      if (!last_of_unit) continue;
      // This warp's last chunk of the unit: park its partial sums (deferred: its raw C).
      if (!kGrouped && !kDeferred) {
        fold();
        if (unit + 1 < first_unit + my_units) load_scales(unit + 1, 0);
      }
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) {
        float* parked = partials + ((unit - first_unit) * kRowTiles + rt) * kBlockWarps * a.batch * kRowTile;
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int n = nt * 8 + 2 * t + e % 2;
            if (n < a.batch) {
              parked[(warp * a.batch + n) * kRowTile + g + 8 * (e / 2)] = kDeferred ? acc.products(rt, nt, e) : out[rt][nt][e];
            }
            out[rt][nt][e] = 0.0f;
          }
        }
      }
      if (kDeferred) acc.clear_products();
    }
  }
  const int my_tiles = my_units * kRowTiles;
  if (slots == 0) {  // more warps than chunks: this warp holds nothing
    for (int tile = 0; tile < my_tiles; ++tile) {
      for (int o = lane; o < a.batch * kRowTile; o += 32) {
        partials[(tile * kBlockWarps + warp) * a.batch * kRowTile + o] = 0.0f;
      }
    }
  }
  float* x_parts = partials + partial_floats(int64_t(units_per_block) * kRowTiles, kBlockWarps, a.batch);
  if constexpr (kDeferred) {  // this warp's sums of x: [low | high][warp]
    float low = acc.lane_x_low, high = acc.lane_x_high;
#pragma unroll
    for (int o = 16; o > 0; o /= 2) {
      low += __shfl_xor_sync(0xFFFFFFFFu, low, o), high += __shfl_xor_sync(0xFFFFFFFFu, high, o);
    }
    if (lane == 0) x_parts[warp] = low, x_parts[kBlockWarps + warp] = high;
  }
  __syncthreads();
  // Past the barrier every warp of the block has finished its main loop (a trigger counts for the
  // whole block from its first thread).
  if (!early_trigger) let_next_grid_launch();
  if constexpr (kDeferred) {
    if (int(threadIdx.x) >= my_tiles * kRowTile) return;
    float x_low = 0.0f, x_high = 0.0f;
    const float4* parts = reinterpret_cast<const float4*>(x_parts);  // 64-byte aligned: partials come in 16s
#pragma unroll
    for (int w = 0; w < kBlockWarps / 4; ++w) {
      const float4 l = parts[w], h = parts[kBlockWarps / 4 + w];
      x_low += (l.x + l.y) + (l.z + l.w), x_high += (h.x + h.y) + (h.z + h.w);
    }
    const float x_all = x_low + x_high;
    for (int o = threadIdx.x; o < my_tiles * kRowTile; o += blockDim.x) {
      const int tile = o / kRowTile, r = o % kRowTile;
      const int64_t row = (first_unit * kRowTiles + tile) * kRowTile + r;
      if (row >= a.rows) continue;
      float c = 0.0f;
#pragma unroll
      for (int w = 0; w < kBlockWarps; ++w) c += partials[(tile * kBlockWarps + w) * kRowTile + r];
      // sum x base over the row's columns (width 2: the in-place decode's bases, by row half).
      const float bases = kWidth != 2 ? P::kBase * x_all : r < 8 ? 128.0f * x_low + 8.0f * x_high : 32.0f * x_low + 128.0f * x_high;
      const bool first = o == int(threadIdx.x);
      const float s = first ? s_first : __ldg(a.scale + row * a.groups), z = first ? z_first : __ldg(a.zero + row * a.groups);
      float sum = s * a.step * c - s * (a.step * bases + z * x_all);
      if (a.bias != nullptr) sum += __bfloat162float(static_cast<const __nv_bfloat16*>(a.bias)[row]);
      static_cast<__nv_bfloat16*>(a.y)[row] = __float2bfloat16_rn(sum);
    }
    return;
  }
  for (int o = threadIdx.x; o < my_tiles * a.batch * kRowTile; o += blockDim.x) {
    const int tile = o / (a.batch * kRowTile), n = o / kRowTile % a.batch, r = o % kRowTile;
    const int64_t row = (first_unit * kRowTiles + tile) * kRowTile + r;
    if (row >= a.rows) continue;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kBlockWarps; ++w) sum += partials[((tile * kBlockWarps + w) * a.batch + n) * kRowTile + r];
    if (a.bias != nullptr) sum += __bfloat162float(static_cast<const __nv_bfloat16*>(a.bias)[row]);
    static_cast<__nv_bfloat16*>(a.y)[int64_t(n) * a.rows + row] = __float2bfloat16_rn(sum);
  }
}

template <int kWidth, int kTiles, bool kOneRow, bool kGrouped, int kRowTiles>
int launch_instance(const SlicePackGemm& a, cudaStream_t stream) {
  constexpr int kBlockWarps = kWarps * kRowTiles;
  const int64_t units = ((a.rows + kRowTile - 1) / kRowTile + kRowTiles - 1) / kRowTiles;
  const int resident = resident_blocks(2 / kRowTiles);
  // As few units per block as keep every block resident, spread evenly.
  // MATQUANT_SLICE_PACK_TILES_PER_BLOCK overrides the choice (for tuning on a new GPU; it counts
  // units, two tiles each for two-tile instances).
  static const int64_t forced = env_knob("MATQUANT_SLICE_PACK_TILES_PER_BLOCK", 1 << 20);
  // One wave: gate/up's 896 tiles as 224 runs of 4 measured 5-10% faster than 896 blocks of one
  // tile at batch 1 (H200); real models' other projections keep one tile per block.
  int64_t per_block = forced > 0 ? forced : (units + resident - 1) / resident;
  // Shared memory for the partial sums stays under 96 KB (very tall weights take several waves).
  per_block = std::max<int64_t>(
      1, std::min<int64_t>(per_block, 96 * 1024 / (4 * partial_floats(kRowTiles, kBlockWarps, a.batch))));
  const unsigned blocks = unsigned((units + per_block - 1) / per_block);
  // The partial sums, then the deferred path's sums of x per warp.
  const size_t bytes = size_t(partial_floats(per_block * kRowTiles, kBlockWarps, a.batch) + 2 * kBlockWarps) * sizeof(float);
  auto kernel = slice_pack_gemm_kernel<kWidth, kTiles, kOneRow, kGrouped, kRowTiles>;
  static std::atomic<size_t> granted[kMaxDevices];
  if (const int e = allow_shared_bytes(kernel, bytes, granted)) return e;
  // A grid of fewer blocks than half the resident ones lets the next kernel launch only after its
  // main loop: triggered at the start, a chain of small grids piled up waiting on one another and
  // k/v at batch 16 took 21% longer (H200, 2026-11-30); int8 k/v at batch 1 (64 blocks) 21% longer
  // too. Two-tile grids (batch 1, one block per SM) trigger at the start whatever their size: a
  // small one leaves SMs to the next calls, whose blocks load their weights there and start
  // computing as soon as this grid ends; int4 and int2 k/v took 20-26% less time (H200, 2026-12-01).
  const bool early_trigger = kRowTiles == 2 || 2 * int64_t(blocks) >= resident;
  // Words of the call asked of L2 ahead, for the instances that take it (see the kernel).
  static const int64_t prefetch_budget = env_knob("MATQUANT_SLICE_PACK_L2_PREFETCH_MB", 1 << 20) << 20;
  const int prefetch_bytes = int(std::min<int64_t>(prefetch_budget / blocks / 16 * 16, int64_t(1) << 30));
  return launch_maybe_chained(kernel, blocks, kBlockWarps * 32, bytes, stream, a.chained, a, int(per_block),
                              early_trigger, prefetch_bytes);
}

// Row tiles per warp at batch 1, widths 2 and 4. Two (16-warp blocks, one per SM) measured faster
// when calls run back to back chained (their longer start overlaps the previous call) and slower
// alone, than one (H200, 2026-11-30: docs/performance.md). SlicePackGemm::row_tiles overrides.
int batch1_row_tiles(const SlicePackGemm& a, bool chains) {
  if (a.row_tiles == 1 || a.row_tiles == 2) return a.row_tiles;
  return chains ? 2 : 1;
}

template <int kWidth>
int launch_width(const SlicePackGemm& a, cudaStream_t stream) {
  const bool grouped = a.group_size > 0;
  if (a.batch == 1) {
    if constexpr (kWidth != 8) {  // width 8 would keep one chunk in flight per lane
      const bool chains = a.chained && chaining_supported(slice_pack_gemm_kernel<kWidth, 1, true, false, 2>);
      if (batch1_row_tiles(a, chains) == 2) {
        return grouped ? launch_instance<kWidth, 1, true, true, 2>(a, stream) : launch_instance<kWidth, 1, true, false, 2>(a, stream);
      }
    }
    return grouped ? launch_instance<kWidth, 1, true, true, 1>(a, stream) : launch_instance<kWidth, 1, true, false, 1>(a, stream);
  }
  if (a.batch <= 8) {
    return grouped ? launch_instance<kWidth, 1, false, true, 1>(a, stream) : launch_instance<kWidth, 1, false, false, 1>(a, stream);
  }
  return grouped ? launch_instance<kWidth, 2, false, true, 1>(a, stream) : launch_instance<kWidth, 2, false, false, 1>(a, stream);
}

// Level of the field at (step s, register i, half e) of a lane's chunk words (the matmul's decode
// without the bf16 trick).
template <int kWidth>
__device__ __forceinline__ uint32_t level_at(const uint32_t (&w)[Pack<kWidth>::kWords], int s, int i, int e) {
  if constexpr (kWidth == 2) return (w[s / 2] >> (2 * (4 * (s % 2) + i) + 16 * e)) & 3u;
  if constexpr (kWidth == 4) return (w[s] >> (4 * i + 16 * e)) & 15u;
  return 16u * ((w[2 * s] >> (4 * i + 16 * e)) & 15u) + ((w[2 * s + 1] >> (4 * i + 16 * e)) & 15u);
}

// The slice as bf16 weights (the prefill path): one thread per lane of a (row tile, chunk), writing
// the 64 levels its words hold. Values are (step level - z) s rounded as ATen's fp32 ops round them.
template <int kWidth>
__global__ void __launch_bounds__(256) slice_pack_dequantize_kernel(SlicePackGemm a, int64_t columns, __nv_bfloat16* out) {
  using P = Pack<kWidth>;
  const int64_t task = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (tile, chunk, lane)
  if (task >= (a.rows + kRowTile - 1) / kRowTile * a.chunks * 32) return;
  const int lane = int(task % 32), g = lane / 4, t = lane % 4;
  const int64_t chunk = task / 32 % a.chunks, tile = task / 32 / a.chunks;
  const uint4* words = reinterpret_cast<const uint4*>(a.words) + (tile * a.chunks + chunk) * P::kLoads * 32 + lane;
  uint32_t w[P::kWords];
#pragma unroll
  for (int j = 0; j < P::kLoads; ++j) {
    const uint4 v = __ldg(words + j * 32);
    w[4 * j] = v.x, w[4 * j + 1] = v.y, w[4 * j + 2] = v.z, w[4 * j + 3] = v.w;
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t row = tile * kRowTile + g + 8 * (i % 2);
    if (row >= a.rows) continue;
    const int64_t column_base = chunk * kChunkColumns + 32 * t + 2 * (i / 2);
    const int64_t group = a.group_size > 0 ? column_base / a.group_size : 0;
    const float s = __ldg(a.scale + row * a.groups + group), z = __ldg(a.zero + row * a.groups + group);
#pragma unroll
    for (int step = 0; step < kSteps; ++step) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int64_t column = column_base + 4 * step + e;
        if (column >= columns) continue;
        const float level = float(level_at<kWidth>(w, step, i, e));
        out[row * columns + column] = __float2bfloat16_rn(__fmul_rn(__fsub_rn(__fmul_rn(level, a.step), z), s));
      }
    }
  }
}

bool valid(const SlicePackGemm& a) {
  // The matmul addresses words by 32-bit offsets in uint4 (16 bytes): at most about 32 GiB per pack,
  // with room for the ring's cursor to step two row tiles past the end.
  const int64_t words16 = (a.rows + kRowTile - 1) / kRowTile * a.chunks * (a.width / 2) * 32;
  return (a.width == 2 || a.width == 4 || a.width == 8) && a.rows > 0 && a.chunks > 0 &&
         words16 + 4 * a.chunks * 128 < (int64_t(1) << 31) &&
         (a.group_size == 0 || a.group_size % kChunkColumns == 0) && a.groups >= 1;
}

}  // namespace

int launch_slice_pack_gemm(const SlicePackGemm& a, void* stream_ptr) {
  if (!valid(a) || a.batch < 1 || a.batch > kSlicePackGemmMaxBatch ||
      reinterpret_cast<uintptr_t>(a.x) % 16 != 0) {
    return int(cudaErrorInvalidValue);
  }
  if (slice_pack_picks_imma(a)) return launch_slice_pack_imma(a, stream_ptr);
  const auto stream = static_cast<cudaStream_t>(stream_ptr);
  switch (a.width) {
    case 2: return launch_width<2>(a, stream);
    case 4: return launch_width<4>(a, stream);
    default: return launch_width<8>(a, stream);
  }
}

int launch_slice_pack_dequantize(const SlicePackGemm& a, int64_t columns, void* out, void* stream_ptr) {
  if (!valid(a) || columns > a.chunks * kChunkColumns) return int(cudaErrorInvalidValue);
  const auto stream = static_cast<cudaStream_t>(stream_ptr);
  const int64_t threads = (a.rows + kRowTile - 1) / kRowTile * a.chunks * 32;
  const unsigned blocks = unsigned((threads + 255) / 256);
  auto* y = static_cast<__nv_bfloat16*>(out);
  switch (a.width) {
    case 2: slice_pack_dequantize_kernel<2><<<blocks, 256, 0, stream>>>(a, columns, y); break;
    case 4: slice_pack_dequantize_kernel<4><<<blocks, 256, 0, stream>>>(a, columns, y); break;
    default: slice_pack_dequantize_kernel<8><<<blocks, 256, 0, stream>>>(a, columns, y); break;
  }
  return int(cudaGetLastError());
}

}  // namespace matquant::kernels
