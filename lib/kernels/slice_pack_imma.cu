// Batch-1 decode matmuls from a slice pack (quant/slice_pack.h) on the integer tensor cores:
// mma.m16n8k32 with the weight levels as unsigned bytes (A) and the activations as 23-bit fixed
// point in three signed byte digits (B). Widths 2, 4 and 8 with per-channel scales;
// slice_pack_gemm.cu runs everything else.
//
// Why. The bf16 kernel turns each pair of levels into a bf16x2 (one LOP3, and a shift for most) and
// runs one mma.m16n8k16 per 256 weights. Here one mma.m16n8k32 takes 512 weights: per 2048-weight
// chunk of a row tile, a lane's 4 (width 2) words become 16 A registers with 16 LOP3 (one per four u8
// levels) instead of 44 instructions, and width 4's 8 words with 8 LOP3 and 8 copies (half the A
// registers are the words as they lie: see the main loop) instead of 56, for 4 MMAs instead of 8.
// At batch 1 the MMA's 8 B columns would hold one activation row and 7 unused ones; here columns 0,
// 1 and 2 hold x's three digits, so one MMA gives all three partial sums.
//
// Activations. Each warp reads only the columns of its own chunks (the same in every unit). After
// griddepcontrol.wait it scales them by f = 2^(21 - e), e = floor(log2 of their max |x|), and
// rounds to the integer P = round(x f), |P| < 2^22: exact for every x of at least max|x| 2^-15,
// smaller ones rounded to 2^-22 max|x| (about fp32's resolution of the sums). P = 2^16 d0 + 2^8 d1
// + d2 in signed byte digits, stored in shared memory in the order the lanes' B fragments take
// them. Then sum_k level_k x_k = (2^16 C0 + 2^8 C1 + C2) / f over the warp's columns, each C_i =
// sum_k level_k d_i,k exact in int32; the warp scales its partial sums by 1 / f when it parks them.
// An exponent per warp needs no barrier before the main loop.
//
// Fragment order. A lane (g, t) of the pack holds, per step s of 16 columns, the levels of columns
// 32 t + 4 s + q (q = 0..3) of rows g and g + 8. Width 2: a word holds steps 2p and 2p + 1, and
// (word >> 2 i) & 0x03030303 holds columns 32 t + 8 p + {0, 4, 1, 5} (i = 0: row g, 1: row g + 8)
// or + {2, 6, 3, 7} (i = 2: row g, 3: row g + 8); the kernel reads them unshifted (see the main
// loop). Width 4: word s & 0x0F0F0F0F is row g's columns 32 t + 4 s + {0, 2, 1, 3} and (word >> 4)
// & 0x0F0F0F0F row g + 8's, so words 2p and 2p + 1 give a0, a1 and a2, a3. The B registers b0 and
// b1 of the step hold the same columns' x bytes.
//
// Width 8 (two nibble words per step, in width 4's places) makes each level byte as
// (high << 4) | low: a shift and a LOP3 per four levels.
//
// Work split as the bf16 kernel's chained batch-1 instance: a unit is two row tiles (32 rows; one at
// width 8), a block of 16 warps owns a run of units, its warps take a unit's 128-column chunks
// round-robin with 128 bytes of weights in flight per lane, and add their partial sums in shared
// memory at the end.
#include "kernels/kernel_common.cuh"
#include "kernels/slice_pack_launch.cuh"

namespace matquant::kernels {
namespace {

constexpr int kImmaWarps = 16;
// Row tiles per unit: two, or one at width 8 (whose 64 bytes per lane and tile would leave the ring a
// single chunk of two tiles).
template <int kWidth>
constexpr int kTilesPerUnit = kWidth == 8 ? 1 : 2;
constexpr int kTileRows = 16;
constexpr int kColumnsPerChunk = 128;
constexpr int kPlanes = 3;
constexpr int kPlaneChunkBytes = kPlanes * 4 * 32;  // a chunk's planes: [plane][t][32 bytes]
constexpr int kTilePartialFloats = kImmaWarps * kTileRows;
// Exponent floor: f = 2^(21 - e) and 1 / f stay normal fp32 (a row whose max|x| is below 2^-99
// loses the bits of x below 2^-121).
constexpr int kLowestExponent = -100;
// x groups (8 columns) a lane holds in registers from the max to the conversion: a warp's chunks up
// to K = 16384 columns; the rest are read again.
constexpr int kHeldGroups = 4;

// c += a b for one mma.m16n8k32: a = 16 x 32 u8 levels, b = 32 x 8 s8 digits, c s32.
__device__ __forceinline__ void mma_levels(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                           uint32_t b1) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Sum of the warps' values p[0], p[stride], ... in four independent chains (every call ends waiting
// on it).
__device__ __forceinline__ float sum_over_warps(const float* p, int stride) {
  float part[4] = {};
#pragma unroll
  for (int w = 0; w < kImmaWarps; ++w) part[w % 4] += p[w * stride];
  return (part[0] + part[1]) + (part[2] + part[3]);
}

template <int kWidth>
struct ImmaRing {
  static constexpr int kUnitTiles = kTilesPerUnit<kWidth>;
  static constexpr int kLoads = kWidth / 2;                    // uint4 per lane, chunk and row tile
  static constexpr int kDepth = 8 / (kLoads * kUnitTiles);     // chunks in flight: 128 bytes per lane
  static constexpr int kWords = 4 * kLoads;
  uint4 v[kDepth][kUnitTiles][kLoads];
};

#ifdef MATQUANT_SLICE_PACK_PHASES
// Where a call's time goes (bench/imma_phases.cu builds the kernel with this defined): thread 0 of
// every block adds [0] one, [1..7] the SM clocks of its phases (entry to ring issued, to the wait's
// return, to x's max, to the digits stored, to the main loop's end, to the barrier, to the end),
// [8] its entry-to-end span in ns of %globaltimer and [9] the same span in clocks.
__device__ unsigned long long slice_pack_phase_sums[10];
__device__ __forceinline__ unsigned long long phase_now() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
#endif

template <int kWidth>
__global__ void __launch_bounds__(kImmaWarps * 32, 1) slice_pack_imma_kernel(SlicePackGemm a, int units_per_block, int never) {
#ifdef MATQUANT_SLICE_PACK_PHASES
  unsigned long long phase[8] = {}, wall0 = 0;
  if (threadIdx.x == 0) wall0 = phase_now();
  auto stamp = [&](int k) { if (threadIdx.x == 0) phase[k] = clock64(); };
#else
  auto stamp = [](int) {};
#endif
  stamp(0);
  using Ring = ImmaRing<kWidth>;
  constexpr int kUnitTiles = kTilesPerUnit<kWidth>;
  constexpr int kLoads = Ring::kLoads, kDepth = Ring::kDepth;
  extern __shared__ __align__(16) unsigned char shared[];
  // [chunk][plane][t][32 bytes] | partial sums [unit tile][warp][16 rows] | max per warp | sum P per warp
  unsigned char* planes = shared;
  float* partials = reinterpret_cast<float*>(shared + a.chunks * kPlaneChunkBytes);
  float* warp_sum_x = partials + units_per_block * kUnitTiles * kTilePartialFloats;

  // The next chained call may launch now: this grid takes one block per SM, and a small one leaves
  // SMs where the next calls load their weights (as the bf16 kernel's two-tile grids).
  let_next_grid_launch();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const BlockUnits share(a.rows, a.chunks, kUnitTiles, units_per_block, warp, kImmaWarps);
  const int64_t first_unit = share.first_unit;
  const int my_units = share.units, whole_units = share.whole_units, slots = share.slots;

  // Weight ring, walked over (unit, j) pairs: chunk warp + 16 j of unit first_unit + unit. `from` is
  // the uint4 offset of the pair's first row tile (valid() keeps offsets below 2^31).
  constexpr int kChunkUint4 = kLoads * 32;
  const int tile_uint4 = int(a.chunks * kChunkUint4);
  int from = int((first_unit * kUnitTiles * a.chunks + warp) * kChunkUint4);
  const int within_unit = kImmaWarps * kChunkUint4;
  const int to_next_unit = int((kUnitTiles * a.chunks - int64_t(kImmaWarps) * (slots - 1)) * kChunkUint4);
  const uint4* words = reinterpret_cast<const uint4*>(a.words) + lane;
  int next_unit = 0, next_j = 0;
  Ring ring;
  auto load = [&](int d) {
    if (next_unit >= my_units || slots == 0) return;
#pragma unroll
    for (int rt = 0; rt < kUnitTiles; ++rt) {
      // A unit's missing second tile (odd tile count) reads its first again; its rows are not written.
      const uint4* p = words + from + (rt == 1 && next_unit < whole_units ? tile_uint4 : 0);
#pragma unroll
      for (int j = 0; j < kLoads; ++j) ring.v[d][rt][j] = load_streaming(p + j * 32);
    }
    from += next_j == slots - 1 ? to_next_unit : within_unit;
    if (++next_j == slots) next_j = 0, ++next_unit;
  };
#pragma unroll
  for (int d = 0; d < kDepth; ++d) load(d);
  // The epilogue's scales for this thread's first row, before the wait (constants of the model).
  const int my_rows = my_units * kUnitTiles * kTileRows;
  const int64_t first_row = first_unit * kUnitTiles * kTileRows + threadIdx.x;
  float s_first = 0.0f, z_first = 0.0f;
  if (int(threadIdx.x) < my_rows && first_row < a.rows) s_first = __ldg(a.scale + first_row), z_first = __ldg(a.zero + first_row);
  // x's addresses, also before the wait. A lane takes the warp's 8-column groups lane, lane + 32, ...
  // (group q of the warp: its chunk j = q / 16, columns 8 (q % 16) .. + 7 of that chunk), so its
  // held groups lie 512 uint4 apart from the first.
  const uint4* x8 = static_cast<const uint4*>(a.x);  // 8 bf16 per uint4; x is padded to whole chunks
  const int warp_groups = slots * (kColumnsPerChunk / 8);
  auto group_at = [&](int q) { return (warp + kImmaWarps * (q / 16)) * (kColumnsPerChunk / 8) + q % 16; };
  const uint4* my_x = x8 + group_at(lane);
  // A loop holding a bulk asynchronous operation, never entered (`never` is 0): without a branch here
  // ptxas schedules griddepcontrol.wait ahead of some of the ring's loads, which then wait for the
  // previous kernel's end (a plain `if` was predicated, not branched, and width 4 still loaded half
  // its ring after the wait). tests/kernels/check_slice_pack_wait_order.sh reads the SASS for it.
  for (int k = 0; k < never; ++k) prefetch_to_l2(a.words + 4 * k, 16);
  stamp(1);
  wait_for_previous_grid();  // x is the previous kernel's output, y perhaps its input
  stamp(2);

  // x -> byte planes, per warp: its max, the scale f, then the digits. Instanced for one held group
  // a lane (K up to 4096 columns: no instructions for the empty ones) and for kHeldGroups.
  bool finite = false;
  float inv_f = 0.0f;
  // Sum of P over this lane's values, mod 2^32 (|P| < 2^22, at most K / 512 values a lane: the
  // true sum fits an int32 below K = 2^18).
  uint32_t sum_p = 0;
  auto to_planes = [&](auto held_groups) {
    constexpr int kHeld = decltype(held_groups)::value;
    uint4 held[kHeld];
#pragma unroll
    for (int k = 0; k < kHeld; ++k) {
      held[k] = lane + 32 * k < warp_groups ? load_after_wait(my_x + k * 2 * kImmaWarps * (kColumnsPerChunk / 8)) : make_uint4(0, 0, 0, 0);
    }
    // max|x| as bf16 bits (for non-negative values integer order is float order; inf and NaN sort
    // above every finite value).
    auto top_of = [](const uint4& v) {
      const unsigned m = __vmaxu2(__vmaxu2(v.x & 0x7FFF7FFFu, v.y & 0x7FFF7FFFu), __vmaxu2(v.z & 0x7FFF7FFFu, v.w & 0x7FFF7FFFu));
      return max(m & 0xFFFFu, m >> 16);
    };
    unsigned top = 0;
#pragma unroll
    for (int k = 0; k < kHeld; ++k) top = max(top, top_of(held[k]));
    for (int q = lane + 32 * kHeld; q < warp_groups; q += 32) top = max(top, top_of(load_after_wait(x8 + group_at(q))));
    top = __reduce_max_sync(0xFFFFFFFFu, top);
    stamp(3);
    finite = top < 0x7F80u;
    // f = 2^(21 - e) keeps |x f| below 2^22, where x f + 1.5 2^23 (one FFMA) holds round(x f) in its
    // low mantissa bits.
    const int exponent = max(int((top >> 7) & 0xFFu) - 127, kLowestExponent);
    const float f = __int_as_float((127 + 21 - exponent) << 23);
    inv_f = __int_as_float((127 - 21 + exponent) << 23);
    auto convert = [&](const uint4& v, int q) {
      const uint32_t pairs[4] = {v.x, v.y, v.z, v.w};
      // P = 2^16 d0 + 2^8 d1 + d2 in signed digits (d1, d2 in [-128, 127], |d0| <= 65): d2 is P's low
      // byte read as signed, d1 that of (P + 128) >> 8 and d0 = (P + 0x8080) >> 16. All three are
      // bytes of Q = P + 0x8080: d0 is Q's byte 2, d1 its byte 1 and d2 its byte 0 with their top bits
      // flipped (adding 0x80 to a byte mod 256 flips that bit; the carry only moves up). Q is the
      // FFMA's bits less a constant, so a value costs three instructions and a sum, and the digits
      // are byte permutations of Q. (x inf or NaN: the digits are garbage, every output NaN.)
      uint32_t q_bits[8];
#pragma unroll
      for (int o = 0; o < 8; ++o) {
        const uint32_t bits = o % 2 == 0 ? pairs[o / 2] << 16 : pairs[o / 2] & 0xFFFF0000u;
        q_bits[o] = __float_as_uint(fmaf(__uint_as_float(bits), f, 12582912.0f)) - (0x4B400000u - 0x8080u);
        sum_p += q_bits[o];
      }
      sum_p -= 8 * 0x8080u;
      // Register r of the step takes columns kOrder[r][0..3] = a, b, c, d: their bytes 0 and 1
      // interleaved per pair, {a0, b0, a1, b1} and {c0, d0, c1, d1}, give planes 2 and 1 (one PRMT
      // each and a flip of the pairs' top bits); byte 2 takes three PRMTs.
      uint32_t out[kPlanes][2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        constexpr int kOrder[2][2][4] = {{{0, 4, 1, 5}, {2, 6, 3, 7}}, {{0, 2, 1, 3}, {4, 6, 5, 7}}};
        const int* order = kOrder[kWidth == 2 ? 0 : 1][r];
        const uint32_t ab = __byte_perm(q_bits[order[0]], q_bits[order[1]], 0x5140) ^ 0x80808080u;
        const uint32_t cd = __byte_perm(q_bits[order[2]], q_bits[order[3]], 0x5140) ^ 0x80808080u;
        out[2][r] = __byte_perm(ab, cd, 0x5410);
        out[1][r] = __byte_perm(ab, cd, 0x7632);
        out[0][r] = __byte_perm(__byte_perm(q_bits[order[0]], q_bits[order[1]], 0x0062),
                                __byte_perm(q_bits[order[2]], q_bits[order[3]], 0x0062), 0x5410);
      }
      // Group q: chunk warp + 16 (q / 16), lane column block t = q % 16 / 4, step p = q % 4.
      unsigned char* base = planes + (warp + kImmaWarps * (q / 16)) * kPlaneChunkBytes + (q % 16 / 4) * 32 + (q % 4) * 8;
#pragma unroll
      for (int pl = 0; pl < kPlanes; ++pl) *reinterpret_cast<uint2*>(base + pl * 128) = make_uint2(out[pl][0], out[pl][1]);
    };
#pragma unroll
    for (int k = 0; k < kHeld; ++k) {
      if (lane + 32 * k < warp_groups) convert(held[k], lane + 32 * k);
    }
    for (int q = lane + 32 * kHeld; q < warp_groups; q += 32) convert(load_after_wait(x8 + group_at(q)), q);
  };
  if (warp_groups <= 32) {
    to_planes(std::integral_constant<int, 1>{});
  } else {
    to_planes(std::integral_constant<int, kHeldGroups>{});
  }
  __syncwarp();
  stamp(4);

  // The planes are B's columns: column n = d holds digit plane d (lanes g = 0, 1, 2 load it; the
  // other lanes' columns are never read), so one mma.m16n8k32 per k32 step takes all three. Lane
  // (g, t = 0) then holds planes 0 and 1 of rows g (c0, c1) and g + 8 (c2, c3), lane (g, 1) plane 2
  // (c0, c2).
  // Width 2 decodes without shifts: a field masked where it lies reads level 4^i for its position i
  // in the byte (0x03: row g, 0x0C: row g + 8 times 4, 0x30: row g times 16, 0xC0: row g + 8 times
  // 64). One MMA takes the 0x03 and 0x0C fields of two words (columns {0, 4, 1, 5} of steps p and
  // p + 1: B registers b[2 p] and b[2 p + 2]) into acc[0] (rows g and g + 8 times 1 and 4),
  // another the 0x30 and 0xC0 fields (columns {2, 6, 3, 7}) into acc[1] (times 16 and 64).
  constexpr int kAccumulators = kWidth == 2 ? 2 : 1;
  int acc[kAccumulators][kUnitTiles][4] = {};
  const int plane_of_lane = min(g, kPlanes - 1);
  const int items = my_units * slots;
  int unit = 0, j = 0;
  for (int i = 0; i < items; i += kDepth) {
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      if (i + d >= items) break;
      const int chunk = warp + kImmaWarps * j;
      // This lane's B bytes of the chunk: uint4 0 = steps 0, 1 and uint4 1 = steps 2, 3, (b0, b1)
      // per step.
      const uint4* pb = reinterpret_cast<const uint4*>(planes + chunk * kPlaneChunkBytes + plane_of_lane * 128 + t * 32);
      const uint4 lo = pb[0], hi = pb[1];
      const uint32_t b[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
      for (int rt = 0; rt < kUnitTiles; ++rt) {
        uint32_t w[Ring::kWords];
#pragma unroll
        for (int l = 0; l < kLoads; ++l) {
          const uint4 v = ring.v[d][rt][l];
          w[4 * l] = v.x, w[4 * l + 1] = v.y, w[4 * l + 2] = v.z, w[4 * l + 3] = v.w;
        }
        if constexpr (kWidth == 2) {
#pragma unroll
          for (int p = 0; p < 4; p += 2) {
            mma_levels(acc[0][rt], w[p] & 0x03030303u, w[p] & 0x0C0C0C0Cu, w[p + 1] & 0x03030303u,
                       w[p + 1] & 0x0C0C0C0Cu, b[2 * p], b[2 * p + 2]);
            mma_levels(acc[1][rt], w[p] & 0x30303030u, w[p] & 0xC0C0C0C0u, w[p + 1] & 0x30303030u,
                       w[p + 1] & 0xC0C0C0C0u, b[2 * p + 1], b[2 * p + 3]);
          }
        } else if constexpr (kWidth == 4) {
          // Row g's operand is the word itself: each byte is level(g) + 16 level(g + 8). Row g + 8's
          // is the word's high nibbles in place, 16 level(g + 8). So the flush takes row g + 8's sums
          // over 16 and row g's as the difference: one LOP3 (and a copy into the fragment's
          // registers) per word where masking and shifting both rows took three instructions.
#pragma unroll
          for (int p = 0; p < 4; ++p) {
            mma_levels(acc[0][rt], w[2 * p], w[2 * p] & 0xF0F0F0F0u, w[2 * p + 1], w[2 * p + 1] & 0xF0F0F0F0u, b[2 * p],
                       b[2 * p + 1]);
          }
        } else {
          // Width 8: words 2 s and 2 s + 1 hold step s's high and low nibbles in width 4's places, so a
          // level byte is (high << 4) | low: row g's from the nibbles at bits 0-3 of each byte, row
          // g + 8's from those at bits 4-7 (one shift and one LOP3 each).
          auto row_g = [](uint32_t high, uint32_t low) { return ((high << 4) & 0xF0F0F0F0u) | (low & 0x0F0F0F0Fu); };
          auto row_g8 = [](uint32_t high, uint32_t low) { return (high & 0xF0F0F0F0u) | ((low >> 4) & 0x0F0F0F0Fu); };
#pragma unroll
          for (int p = 0; p < 4; ++p) {
            const int s0 = 2 * p, s1 = 2 * p + 1;
            mma_levels(acc[0][rt], row_g(w[2 * s0], w[2 * s0 + 1]), row_g8(w[2 * s0], w[2 * s0 + 1]),
                       row_g(w[2 * s1], w[2 * s1 + 1]), row_g8(w[2 * s1], w[2 * s1 + 1]), b[2 * p], b[2 * p + 1]);
          }
        }
      }
      load(d);
      if (++j < slots) continue;
      // This warp's last chunk of the unit: park its sums in units of x, 2^16 C0 + 2^8 C1 + C2, for
      // rows g (h = 0) and g + 8 (h = 1). Each C_i is exact in int32 (below 2^31 up to 65,000
      // columns per warp at widths 8 and 4, 87,000 with width 2's scaled fields; the shared memory
      // for x's digits bounds a call to fewer); its fp32 value is rounded at most to fp32's
      // resolution.
#pragma unroll
      for (int rt = 0; rt < kUnitTiles; ++rt) {
        float* parked = partials + ((unit * kUnitTiles + rt) * kImmaWarps + warp) * kTileRows;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          float v = 0.0f;
#pragma unroll
          for (int k = 0; k < kAccumulators; ++k) {
            // Width 4: row g's operand held level(g) + 16 level(g + 8) (see the main loop).
            const int* c = acc[k][rt];
            const int first = c[2 * h] - (kWidth == 4 && h == 0 ? c[2] : 0);
            const int second = c[2 * h + 1] - (kWidth == 4 && h == 0 ? c[3] : 0);
            const int plane2 = __shfl_down_sync(0xFFFFFFFFu, first, 1);  // from lane (g, 1)
            // Field scales: width 2's 1 (row g) and 4 (row g + 8) in acc[0], 16 and 64 in acc[1];
            // width 4's 16 for row g + 8.
            const float unscale = kWidth == 2 ? 1.0f / float(1 << (2 * h + 4 * k)) : kWidth == 4 && h == 1 ? 1.0f / 16 : 1.0f;
            v += (65536.0f * float(first) + (256.0f * float(second) + float(plane2))) * unscale;
          }
          if (t == 0) parked[g + 8 * h] = v * inv_f;
        }
#pragma unroll
        for (int k = 0; k < kAccumulators; ++k) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[k][rt][e] = 0;
        }
      }
      j = 0, ++unit;
    }
  }
  stamp(5);
  // This warp's share of sum x (NaN when its columns of x hold inf or NaN: every output is then NaN).
  // Summed as sum_p >> 8 and its low byte (each fits int32 over a warp below K = 2^21): two
  // warp reductions where five 64-bit shuffle steps sat at the end of the kernel.
  const int lane_p = int(sum_p);
  const long long warp_p = 256ll * __reduce_add_sync(0xFFFFFFFFu, lane_p >> 8) + __reduce_add_sync(0xFFFFFFFFu, lane_p & 0xFF);
  if (lane == 0) warp_sum_x[warp] = finite ? float(warp_p) * inv_f : __int_as_float(0x7FC00000);
  if (slots == 0) {  // more warps than chunks: this warp holds nothing
    for (int o = lane; o < my_units * kUnitTiles * kTileRows; o += 32) {
      partials[(o / kTileRows * kImmaWarps + warp) * kTileRows + o % kTileRows] = 0.0f;
    }
  }
  __syncthreads();
  stamp(6);
  if (int(threadIdx.x) >= my_rows) return;
  const float sum_x = sum_over_warps(warp_sum_x, 1);
  // y = s (step sum level x - z sum x).
  for (int o = threadIdx.x; o < my_rows; o += blockDim.x) {
    const int tile = o / kTileRows, r = o % kTileRows;
    const int64_t row = (first_unit * kUnitTiles + tile) * kTileRows + r;
    if (row >= a.rows) continue;
    const float v = sum_over_warps(partials + tile * kImmaWarps * kTileRows + r, kTileRows);
    const bool first = o == int(threadIdx.x);
    const float s = first ? s_first : __ldg(a.scale + row), z = first ? z_first : __ldg(a.zero + row);
    float sum = s * (a.step * v - z * sum_x);
    if (a.bias != nullptr) sum += __bfloat162float(static_cast<const __nv_bfloat16*>(a.bias)[row]);
    static_cast<__nv_bfloat16*>(a.y)[row] = __float2bfloat16_rn(sum);
  }
#ifdef MATQUANT_SLICE_PACK_PHASES
  stamp(7);
  if (threadIdx.x == 0) {
    atomicAdd(&slice_pack_phase_sums[0], 1ull);
    for (int k = 1; k < 8; ++k) atomicAdd(&slice_pack_phase_sums[k], phase[k] - phase[k - 1]);
    atomicAdd(&slice_pack_phase_sums[8], phase_now() - wall0);
    atomicAdd(&slice_pack_phase_sums[9], phase[7] - phase[0]);
  }
#endif
}

// Dynamic shared memory of a call with `per_block` units per block.
__host__ __device__ constexpr int tiles_per_unit(int width) { return width == 8 ? kTilesPerUnit<8> : kTilesPerUnit<4>; }

size_t imma_shared_bytes(const SlicePackGemm& a, int64_t per_block) {
  return size_t(a.chunks * kPlaneChunkBytes + (per_block * tiles_per_unit(a.width) * kTilePartialFloats + kImmaWarps) * sizeof(float));
}

// Dynamic shared memory a block may take on the current device (the opt-in limit: 227 KB on an
// H100, 163 KB on an A100, 99 KB on sm_86 and sm_89 GPUs), less what the kernel holds statically
// (none). 0 when the device cannot be asked.
size_t imma_shared_limit() {
  static std::atomic<int> limit[kMaxDevices];
  const int bytes = cached_per_device(limit, [](int device, int& value) {
    return cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  });
  return size_t(std::max(bytes, 0));
}

// A call's grid: units per block (one block per SM, fewer units a block where the shared memory
// for x's digits and the partial sums would not fit), blocks, and dynamic shared memory.
struct ImmaGrid {
  int64_t per_block;
  unsigned blocks;
  size_t bytes;
};
ImmaGrid imma_grid(const SlicePackGemm& a) {
  const int tiles = tiles_per_unit(a.width);
  const int64_t units = ((a.rows + kTileRows - 1) / kTileRows + tiles - 1) / tiles;
  const int resident = resident_blocks(1);
  int64_t per_block = (units + resident - 1) / resident;
  const size_t most = imma_shared_limit();
  while (per_block > 1 && imma_shared_bytes(a, per_block) > most) per_block = (per_block + 1) / 2;
  return {per_block, unsigned((units + per_block - 1) / per_block), imma_shared_bytes(a, per_block)};
}

template <int kWidth>
int launch_imma(const SlicePackGemm& a, cudaStream_t stream) {
  const ImmaGrid grid = imma_grid(a);
  auto kernel = slice_pack_imma_kernel<kWidth>;
  static std::atomic<size_t> granted[kMaxDevices];
  if (const int e = allow_shared_bytes(kernel, grid.bytes, granted)) return e;
  return launch_maybe_chained(kernel, grid.blocks, kImmaWarps * 32, grid.bytes, stream, a.chained, a, int(grid.per_block), 0);
}

// The integer kernel's call without its arithmetic: the same grid, one block per SM (held there by
// shared memory, as the kernel is by its registers), the same launch, and after the wait the same
// reads of x, a block-wide sum, and one bf16 per row (sum x). With a.words, each block also streams
// its rows' levels as the kernel does (up to 8 uint4 a thread before the wait, the rest after) and
// drops them. What a call of that shape costs before any decode or MMA (matquant_bench_bit_planes
// prints both as floors of a chained call). `never` is 0: the levels' one use. kBlocksPerSm 2: the
// same with two blocks an SM (64 registers a thread), so the next call's blocks may load beside
// this call's: what a kernel of that size could reach.
template <int kBlocksPerSm>
__global__ void __launch_bounds__(kImmaWarps * 32, kBlocksPerSm) slice_pack_latency_floor_kernel(SlicePackGemm a, int units_per_block, int never) {
  __shared__ float warp_sums[kImmaWarps];
  let_next_grid_launch();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, tiles = tiles_per_unit(a.width);
  const BlockUnits share(a.rows, a.chunks, tiles, units_per_block, warp, kImmaWarps);
  constexpr int kHeld = 8;
  uint4 held[kHeld];
  const uint4* levels = nullptr;
  int level_count = 0;
  if (a.words != nullptr) {
    const int64_t per_tile = a.chunks * (a.width / 2) * 32;  // uint4
    const int64_t first = share.first_unit * tiles, last = min(first + int64_t(share.units) * tiles, share.row_tiles);
    levels = reinterpret_cast<const uint4*>(a.words) + first * per_tile + threadIdx.x;
    level_count = int((max(last - first, int64_t(0)) * per_tile - threadIdx.x + blockDim.x - 1) / blockDim.x);
  }
#pragma unroll
  for (int k = 0; k < kHeld; ++k) held[k] = k < level_count ? load_streaming(levels + k * blockDim.x) : make_uint4(0, 0, 0, 0);
  wait_for_previous_grid();
  uint32_t kept = 0;
#pragma unroll
  for (int k = 0; k < kHeld; ++k) kept ^= held[k].x ^ held[k].y ^ held[k].z ^ held[k].w;
  for (int k = kHeld; k < level_count; ++k) {
    const uint4 v = load_streaming(levels + k * blockDim.x);
    kept ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  const uint4* x8 = static_cast<const uint4*>(a.x);
  float sum = 0.0f;
  for (int q = lane; q < share.slots * (kColumnsPerChunk / 8); q += 32) {
    const uint4 v = load_after_wait(x8 + (warp + kImmaWarps * (q / 16)) * (kColumnsPerChunk / 8) + q % 16);
    for (const uint32_t pair : {v.x, v.y, v.z, v.w}) sum += __uint_as_float(pair << 16) + __uint_as_float(pair & 0xFFFF0000u);
  }
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
  if (lane == 0) warp_sums[warp] = sum;
  __syncthreads();
  float total = never != 0 ? __uint_as_float(kept) : 0.0f;
  for (int w = 0; w < kImmaWarps; ++w) total += warp_sums[w];
  const int64_t first_row = share.first_unit * tiles * kTileRows;
  for (int o = threadIdx.x; o < share.units * tiles * kTileRows && first_row + o < a.rows; o += blockDim.x) {
    static_cast<__nv_bfloat16*>(a.y)[first_row + o] = __float2bfloat16_rn(total);
  }
}

}  // namespace

bool slice_pack_imma_takes(const SlicePackGemm& a) {
  return a.batch == 1 && a.group_size == 0 && a.groups == 1 && (a.width == 2 || a.width == 4 || a.width == 8) &&
         imma_shared_bytes(a, 1) <= imma_shared_limit();
}

// Auto and On pick the same calls: the integer kernel measured faster than the bf16 one, chained, at
// every width on all 14 Mistral 7B and Gemma-2 9B projections once its conversion of x took fewer
// instructions (H200, 2026-12-02, docs/performance.md "tenth round"; width 2's small projections,
// 4-17 M weights, had stayed on the bf16 kernel before).
bool slice_pack_picks_imma(const SlicePackGemm& a) {
  return a.integer_mma != kSlicePackIntegerMmaOff && slice_pack_imma_takes(a);
}

int launch_slice_pack_latency_floor(const SlicePackGemm& a, int blocks_per_sm, void* stream_ptr) {
  const ImmaGrid grid = imma_grid(a);
  const auto stream = static_cast<cudaStream_t>(stream_ptr);
  if (blocks_per_sm == 2) {
    return launch_maybe_chained(slice_pack_latency_floor_kernel<2>, grid.blocks, kImmaWarps * 32, 0, stream, a.chained, a,
                                int(grid.per_block), 0);
  }
  // More than half an SM's shared memory: one block per SM, as the integer kernel's registers allow.
  const size_t bytes = std::max(grid.bytes, imma_shared_limit() / 2 + 1024) / 16 * 16;
  static std::atomic<size_t> granted[kMaxDevices];
  if (const int e = allow_shared_bytes(slice_pack_latency_floor_kernel<1>, bytes, granted)) return e;
  return launch_maybe_chained(slice_pack_latency_floor_kernel<1>, grid.blocks, kImmaWarps * 32, bytes, stream, a.chained,
                              a, int(grid.per_block), 0);
}

#ifdef MATQUANT_SLICE_PACK_PHASES
// slice_pack_phase_sums, zeroed by the read.
void read_slice_pack_phases(unsigned long long (&out)[10]) {
  cudaMemcpyFromSymbol(out, slice_pack_phase_sums, sizeof(out));
  const unsigned long long zero[10] = {};
  cudaMemcpyToSymbol(slice_pack_phase_sums, zero, sizeof(zero));
}
#endif

int launch_slice_pack_imma(const SlicePackGemm& a, void* stream_ptr) {
  const auto stream = static_cast<cudaStream_t>(stream_ptr);
  switch (a.width) {
    case 2: return launch_imma<2>(a, stream);
    case 4: return launch_imma<4>(a, stream);
    default: return launch_imma<8>(a, stream);
  }
}

}  // namespace matquant::kernels
