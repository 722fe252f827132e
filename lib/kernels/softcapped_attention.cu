// Softcapped attention forward in one kernel (flash-attention style): softmax(cap * tanh(scale *
// Q K^T / cap), masked) V without the [Tq, Tk] scores in memory. The cuBLAS + fused-softmax route
// (model/attention.cpp) writes and reads those scores three times per layer and computes the
// masked half of a causal square; here each block keeps an online (max, sum) per query row
// (Dao et al., FlashAttention-2: the rescaled accumulator and the deferred division) and skips key
// tiles its mask rows never allow. Forward only: it serves scoring, evaluation and prefill, where
// nothing needs the probabilities back.
//
// Tiling. A block holds kBlockQ = 16 * kWarps query rows of one (batch, head); each warp owns 16
// rows and the whole head dimension of their output in mma.m16n8k16 accumulators (128 registers at
// D = 256, so eight warps per SM whatever the block size). One K and one V tile of kBlockK rows
// stream through shared memory by cp.async, each reloaded as soon as every warp is done with it; Q
// stays in shared memory. Blocks run in reverse order so the long causal rows start first.
// Shared rows are 16-byte chunks swizzled by row & 7 so that ldmatrix's eight row addresses fall
// in distinct banks. S = Q K^T takes K rows as the column-major B operand (ldmatrix); P V reuses
// S's accumulator registers as the A operand (the m16n8 C layout of two key tiles is the m16k16 A
// layout) and takes V through ldmatrix.trans.
//
// Numerics: fp32 scores from bf16 operands, the cap (MUFU.TANH) and exp in fp32 (cap_unit below);
// P is rounded to bf16 for the P V product while the row sums keep fp32, as FlashAttention does.
// Rows with no allowed key give 0.
#include "kernels/kernel_common.cuh"

#include <algorithm>
#include <atomic>

namespace matquant::kernels {
namespace {

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, zero-filled when !valid (rows past the end).
__device__ __forceinline__ void copy_async_16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int kPending>
__device__ __forceinline__ void copy_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void load_matrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void load_matrix_x4_transposed(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Capping in two steps: cap_unit(s) = tanh(scale * s / cap) (or scale * s without a cap), and the
// score in base-2 units = log2(e) * cap * cap_unit, folded into the exponent's FMA. tanh is one
// MUFU.TANH (relative error about 5e-4 of the capped score, below the 4e-3 of a bf16 score): 5 %
// faster at the Gemma-2 shapes on the H200 than 1 - 2 / (2^(2 y log2 e) + 1) from two MUFU
// operations (docs/performance.md), and as close to the fp32 result in the kernel tests.
struct CapArguments {
  float input_scale;   // scale / cap, or scale * log2(e) without a cap
  float output_scale;  // cap * log2(e), or 1 without a cap
  bool capped;
};
__device__ __forceinline__ CapArguments cap_arguments(float scale, float cap) {
  constexpr float kLog2e = 1.4426950408889634f;
  if (cap <= 0.0f) return {scale * kLog2e, 1.0f, false};
  return {scale / cap, cap * kLog2e, true};
}
__device__ __forceinline__ float tanh_approx(float x) {
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float cap_unit(float s, const CapArguments& a) {
  const float y = s * a.input_scale;
  return a.capped ? tanh_approx(y) : y;
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile of D bf16 per row.
template <int D>
__device__ __forceinline__ uint32_t tile_offset(int row, int chunk) {
  return uint32_t(row) * (D * 2) + (uint32_t(chunk ^ (row & 7)) << 4);
}

// rows x D from global (row stride in elements) into a swizzled shared tile; rows at or past
// `valid_rows` are zero-filled.
template <int D, int kThreadsPerBlock>
__device__ __forceinline__ void load_tile(uint32_t tile, const __nv_bfloat16* src, int64_t row_stride, int rows,
                                          int valid_rows) {
  constexpr int kChunks = D / 8;
  for (int i = threadIdx.x; i < rows * kChunks; i += kThreadsPerBlock) {
    const int row = i / kChunks, chunk = i % kChunks;
    const bool valid = row < valid_rows;
    copy_async_16(tile + tile_offset<D>(row, chunk), valid ? src + row * row_stride + chunk * 8 : src, valid);
  }
}

template <int D, int kWarps, int kBlockK>
__global__ void __launch_bounds__(kWarps * 32, kWarps == 4 ? 2 : 1)
softcapped_attention_forward(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                             const __nv_bfloat16* __restrict__ v, const bool* __restrict__ mask,
                             __nv_bfloat16* __restrict__ out, AttentionShape s, float scale, float cap) {
  constexpr int kThreadsPerBlock = kWarps * 32;
  constexpr int kBlockQ = 16 * kWarps;
  constexpr int kDimTiles = D / 8;  // n tiles of the output, 8 columns each
  constexpr uint32_t kQBytes = kBlockQ * D * 2, kKvBytes = kBlockK * D * 2;
  extern __shared__ __align__(128) unsigned char shared[];
  const uint32_t q_tile = shared_address(shared);
  const uint32_t k_tile = q_tile + kQBytes, v_tile = k_tile + kKvBytes;
  const int key_tiles = int((s.key + kBlockK - 1) / kBlockK);
  unsigned char* some_allowed = shared + kQBytes + 2 * kKvBytes;  // two flags per key tile
  unsigned char* all_allowed = some_allowed + key_tiles;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;
  // Causal blocks late in the sequence see the most keys: start them first.
  const int64_t q0 = int64_t(gridDim.x - 1 - blockIdx.x) * kBlockQ;
  const int64_t b = blockIdx.z, h = blockIdx.y, kv_h = h / (s.heads / s.kv_heads);
  const int q_rows = int(std::min<int64_t>(kBlockQ, s.query - q0));
  const __nv_bfloat16* q_block = q + b * s.q_batch + h * s.q_head + q0 * s.q_token;
  const __nv_bfloat16* k_head = k + b * s.k_batch + kv_h * s.k_head;
  const __nv_bfloat16* v_head = v + b * s.v_batch + kv_h * s.v_head;
  const bool* mask_block = mask ? mask + b * s.mask_batch + h * s.mask_head + q0 * s.mask_query : nullptr;

  load_tile<D, kThreadsPerBlock>(q_tile, q_block, s.q_token, kBlockQ, q_rows);
  copy_async_commit();

  // Which key tiles any of this block's rows may attend to (a causal block skips the tiles above
  // its diagonal, a sliding window those before it), and which ones every row may attend to in
  // full (no per-score mask reads). Warps take rows, lanes 16 keys at a time.
  for (int t = threadIdx.x; t < key_tiles; t += kThreadsPerBlock) {
    some_allowed[t] = mask ? 0 : 1;
    all_allowed[t] = int64_t(t + 1) * kBlockK <= s.key ? 1 : 0;
  }
  __syncthreads();
  if (mask) {
    const bool vector_loads = s.key % 16 == 0 && s.mask_query % 16 == 0 &&
                              reinterpret_cast<uintptr_t>(mask_block) % 16 == 0;
    const int64_t chunks = (s.key + 15) / 16;
    for (int64_t c = lane; c < chunks; c += 32) {
      bool any = false, all = true;
#pragma unroll 4
      for (int row = warp; row < q_rows; row += kWarps) {
        const bool* p = mask_block + row * s.mask_query + c * 16;
        if (vector_loads) {
          const uint4 bits = *reinterpret_cast<const uint4*>(p);
          constexpr uint32_t kOnes = 0x01010101u;  // bool bytes are 0 or 1
          any = any || (bits.x | bits.y | bits.z | bits.w) != 0;
          all = all && (bits.x & kOnes) == kOnes && (bits.y & kOnes) == kOnes && (bits.z & kOnes) == kOnes &&
                (bits.w & kOnes) == kOnes;
        } else {
          for (int64_t j = c * 16; j < c * 16 + 16; ++j) {
            const bool allowed = j < s.key && p[j - c * 16];
            any = any || allowed;
            all = all && allowed;
          }
        }
      }
      // Every writer of a flag writes the same value.
      if (any) some_allowed[c * 16 / kBlockK] = 1;
      if (!all) all_allowed[c * 16 / kBlockK] = 0;
    }
    __syncthreads();
  }
  auto next_tile = [&](int t) {
    do ++t;
    while (t < key_tiles && !some_allowed[t]);
    return t;
  };
  // rows of key tile t from a [key, D] head (keys or values) into a shared tile; one commit group.
  auto load_key_tile = [&](uint32_t dst, const __nv_bfloat16* head, int64_t token_stride, int t) {
    const int64_t key0 = int64_t(t) * kBlockK;
    const int rows = int(std::min<int64_t>(kBlockK, s.key - key0));
    load_tile<D, kThreadsPerBlock>(dst, head + key0 * token_stride, token_stride, kBlockK, rows);
    copy_async_commit();
  };

  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  const int warp_row0 = warp * 16;
  // This thread's two rows (group, group + 8 of the warp's 16) as block rows.
  const int my_rows[2] = {warp_row0 + group, warp_row0 + group + 8};
  const bool* mask_rows[2] = {mask_block ? mask_block + my_rows[0] * s.mask_query : nullptr,
                              mask_block ? mask_block + my_rows[1] * s.mask_query : nullptr};
  const CapArguments cap_args = cap_arguments(scale, cap);

  // One K and one V tile in shared memory, loads in commit-group order K0 V0 K1 V1 ...: the next K
  // streams in during this tile's softmax and P V, the next V during the next S.
  int tile = next_tile(-1);
  if (tile < key_tiles) {
    load_key_tile(k_tile, k_head, s.k_token, tile);
    load_key_tile(v_tile, v_head, s.v_token, tile);
  }
  while (tile < key_tiles) {
    const int following = next_tile(tile);
    copy_async_wait<1>();  // Q and K(tile); V(tile) may be in flight
    __syncthreads();

    // S = Q K^T for the warp's 16 rows and the tile's kBlockK keys (kBlockK / 8 n tiles).
    constexpr int kKeyTiles = kBlockK / 8;  // n tiles of S
    float scores[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) scores[n][0] = scores[n][1] = scores[n][2] = scores[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      load_matrix_x4(a, q_tile + tile_offset<D>(warp_row0 + (lane & 15), kk * 2 + (lane >> 4)));
#pragma unroll
      for (int np = 0; np < kBlockK / 16; ++np) {
        uint32_t bk[4];
        load_matrix_x4(bk, k_tile + tile_offset<D>(np * 16 + (lane & 7) + ((lane >> 4) << 3),
                                                   kk * 2 + ((lane >> 3) & 1)));
        mma_bf16(scores[2 * np], a[0], a[1], a[2], a[3], make_uint2(bk[0], bk[1]));
        mma_bf16(scores[2 * np + 1], a[0], a[1], a[2], a[3], make_uint2(bk[2], bk[3]));
      }
    }

    __syncthreads();  // every warp is done with K(tile)
    if (following < key_tiles) load_key_tile(k_tile, k_head, s.k_token, following);

    // Scale, cap, mask (read only for tiles some row sees in part); online softmax per row. Scores
    // stay in cap units (output_scale > 0 keeps their order) until the exponent's FMA; the row
    // statistics are in base-2 units.
    float tile_max[2] = {-INFINITY, -INFINITY};
    const bool whole_tile = all_allowed[tile];
    if (whole_tile) {
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          scores[n][e] = cap_unit(scores[n][e], cap_args);
          tile_max[e >> 1] = fmaxf(tile_max[e >> 1], scores[n][e]);
        }
      }
    } else {
      const int64_t key0 = int64_t(tile) * kBlockK;
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1;
          const int64_t key = key0 + n * 8 + quad * 2 + (e & 1);
          bool allowed = key < s.key && my_rows[r] < q_rows;
          if (allowed && mask_rows[r]) allowed = mask_rows[r][key];
          scores[n][e] = allowed ? cap_unit(scores[n][e], cap_args) : -INFINITY;
          tile_max[r] = fmaxf(tile_max[r], scores[n][e]);
        }
      }
    }
    float rescale[2], shift[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffff, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffff, tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r] * cap_args.output_scale);
      rescale[r] = new_max == -INFINITY ? 1.0f : exp2_approx(row_max[r] - new_max);  // 2^-inf = 0
      shift[r] = new_max == -INFINITY ? 0.0f : -new_max;  // a row with nothing allowed yet: p = 2^-inf
      row_max[r] = new_max;
      row_sum[r] *= rescale[r];
    }
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const float p = exp2_approx(fmaf(scores[n][e], cap_args.output_scale, shift[r]));
        scores[n][e] = p;
        row_sum[r] += p;
      }
    }
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      o[n][0] *= rescale[0];
      o[n][1] *= rescale[0];
      o[n][2] *= rescale[1];
      o[n][3] *= rescale[1];
    }

    if (following < key_tiles) {
      copy_async_wait<1>();  // V(tile); K(following) may be in flight
    } else {
      copy_async_wait<0>();
    }
    __syncthreads();
    // O += P V: P from the score registers (two key tiles make one A fragment), V transposed.
#pragma unroll
    for (int kk = 0; kk < kBlockK / 16; ++kk) {
      const uint32_t a0 = pack_bf16(scores[2 * kk][0], scores[2 * kk][1]);
      const uint32_t a1 = pack_bf16(scores[2 * kk][2], scores[2 * kk][3]);
      const uint32_t a2 = pack_bf16(scores[2 * kk + 1][0], scores[2 * kk + 1][1]);
      const uint32_t a3 = pack_bf16(scores[2 * kk + 1][2], scores[2 * kk + 1][3]);
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        uint32_t bv[4];
        load_matrix_x4_transposed(bv, v_tile + tile_offset<D>(kk * 16 + (lane & 15), dn * 2 + (lane >> 4)));
        mma_bf16(o[2 * dn], a0, a1, a2, a3, make_uint2(bv[0], bv[1]));
        mma_bf16(o[2 * dn + 1], a0, a1, a2, a3, make_uint2(bv[2], bv[3]));
      }
    }
    __syncthreads();  // every warp is done with V(tile)
    if (following < key_tiles) load_key_tile(v_tile, v_head, s.v_token, following);
    tile = following;
  }
  copy_async_wait<0>();  // the Q load, when no tile was allowed

  // Row sums across the quad, then O / sum (0 for rows with no allowed key).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xffffffff, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xffffffff, row_sum[r], 2);
    row_sum[r] = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
  }
  __nv_bfloat16* out_block = out + b * s.o_batch + h * s.o_head + q0 * s.o_token;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (my_rows[r] >= q_rows) continue;
    __nv_bfloat16* row = out_block + my_rows[r] * s.o_token + quad * 2;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      *reinterpret_cast<__nv_bfloat162*>(row + n * 8) =
          __floats2bfloat162_rn(o[n][2 * r] * row_sum[r], o[n][2 * r + 1] * row_sum[r]);
    }
  }
}

// Key tiles whose flags fit in shared memory: the dynamic size is set once per device and kernel
// for this many, so concurrent launches never race on the attribute.
constexpr int64_t kMaxKeys = int64_t(1) << 16;

template <int D, int kWarps, int kBlockK>
int launch(const void* q, const void* k, const void* v, const bool* mask, void* out, const AttentionShape& s,
           float scale, float cap, cudaStream_t stream) {
  constexpr int kBlockQ = 16 * kWarps;
  constexpr size_t kBytes = size_t(kBlockQ) * D * 2 + 2 * size_t(kBlockK) * D * 2 + 2 * size_t(kMaxKeys / kBlockK);
  auto* kernel = softcapped_attention_forward<D, kWarps, kBlockK>;
  static std::atomic<uint64_t> configured_devices{0};
  int device = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status != cudaSuccess) return status;
  const uint64_t bit = uint64_t(1) << (device % 64);
  if (!(configured_devices.load() & bit)) {
    status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kBytes));
    if (status != cudaSuccess) return status;
    configured_devices.fetch_or(bit);
  }
  const dim3 grid(unsigned((s.query + kBlockQ - 1) / kBlockQ), unsigned(s.heads), unsigned(s.batch));
  kernel<<<grid, kWarps * 32, kBytes, stream>>>(static_cast<const __nv_bfloat16*>(q),
                                                static_cast<const __nv_bfloat16*>(k),
                                                static_cast<const __nv_bfloat16*>(v), mask,
                                                static_cast<__nv_bfloat16*>(out), s, scale, cap);
  return cudaGetLastError();
}

}  // namespace

bool softcapped_attention_supported(int64_t batch, int64_t heads, int64_t key, int64_t head_dim, int device) {
  if (head_dim != 64 && head_dim != 128 && head_dim != 256) return false;
  if (batch > 65535 || heads > 65535 || key > kMaxKeys) return false;  // grid y / z, the flags' space
  // cp.async, ldmatrix and bf16 mma.sync need sm_80. Asked once per device: the check runs per layer.
  static std::atomic<int> majors[64] = {};  // 0: not asked yet; -1: the query failed
  if (device < 0 || device >= 64) return false;
  int major = majors[device].load();
  if (major == 0) {
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      cudaGetLastError();  // leave no stray error for the next launch check
      major = -1;
    }
    majors[device].store(major);
  }
  return major >= 8;
}

int launch_softcapped_attention_forward(const void* q, const void* k, const void* v, const bool* mask, void* out,
                                        const AttentionShape& shape, float scale, float cap, void* stream) {
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (shape.query == 0 || shape.batch == 0 || shape.heads == 0) return cudaSuccess;
  // Four warps (64 query rows) per block, two blocks per SM, 64-key tiles: on the H200 at the Gemma-2
  // shapes, 0.427 ms against 0.500 for eight warps and 0.488 for 32-key tiles (docs/performance.md).
  if (shape.key > kMaxKeys) return cudaErrorInvalidValue;
  switch (shape.head_dim) {
    case 64: return launch<64, 4, 64>(q, k, v, mask, out, shape, scale, cap, cuda_stream);
    case 128: return launch<128, 4, 64>(q, k, v, mask, out, shape, scale, cap, cuda_stream);
    case 256: return launch<256, 4, 64>(q, k, v, mask, out, shape, scale, cap, cuda_stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace matquant::kernels
