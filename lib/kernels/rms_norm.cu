// Fused RMSNorm with fp32 statistics (Llama and Gemma forms), forward and backward: eager runs
// about eight elementwise and reduction kernels per norm (upcast, square, mean, rsqrt, scale,
// weight, downcast), four norms per Gemma-2 block.
#include "kernels/kernel_common.cuh"

#include <algorithm>
#include <type_traits>

namespace matquant::kernels {
namespace {

constexpr int kMaxColumnsPerThread = 32;  // widths up to 8192 keep their dw sums in registers

template <typename T>
__device__ __forceinline__ float norm_output(float n, float w, bool adds_one) {  // T: x's dtype
  // Gemma: (n * (1 + w)).to(T); Llama: w * n.to(T), multiplied in T.
  return adds_one ? round_to<T>(n * (1.0f + w)) : round_to<T>(w * round_to<T>(n));
}

template <typename T, typename W>
__global__ void __launch_bounds__(kThreads)
rms_norm_forward(const T* __restrict__ x, const W* __restrict__ weight, T* __restrict__ y, float* __restrict__ rstd,
                 int64_t width, float eps, bool adds_one, __nv_bfloat16* __restrict__ y16) {
  const int64_t row = blockIdx.x;
  const T* in = x + row * width;
  float squares = 0.0f;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < width; j += kThreads) {
    const float v = to_float(in[j]);
    squares += v * v;
  }
  squares = block_reduce(squares, Sum{});
  const float r = rsqrtf(squares / float(width) + eps);
  T* out = y + row * width;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < width; j += kThreads) {
    const float value = norm_output<T>(to_float(in[j]) * r, to_float(weight[j]), adds_one);
    out[j] = from_float<T>(value);
    if (y16) y16[row * width + j] = __float2bfloat16_rn(from_float<T>(value));
  }
  if (threadIdx.x == 0) rstd[row] = r;
}

// The values of one raw 16-byte pack of T, as floats.
template <typename T>
__device__ __forceinline__ void unpack_pack(const uint4& raw, float (&v)[16 / sizeof(T)]) {
  const T* values = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int k = 0; k < int(16 / sizeof(T)); ++k) v[k] = to_float(values[k]);
}

// A warp's row in registers: lane l holds packs l, l + 32, ... (16 bytes each, raw). Loads them and
// returns the lane's share of the sum of squares.
template <typename T, int kPacksPerLane>
__device__ __forceinline__ float load_row_squares(const T* __restrict__ row, uint4 (&held)[kPacksPerLane], int packs,
                                                  int lane) {
  float squares = 0.0f;
#pragma unroll
  for (int p = 0; p < kPacksPerLane; ++p) {
    if (p * 32 + lane < packs) {
      held[p] = reinterpret_cast<const uint4*>(row)[p * 32 + lane];
      const T* v = reinterpret_cast<const T*>(&held[p]);
#pragma unroll
      for (int k = 0; k < int(16 / sizeof(T)); ++k) squares += to_float(v[k]) * to_float(v[k]);
    }
  }
  return squares;
}

// The bf16 copy of an fp32 output pack (4 values, one 8-byte store): the value y.to(bfloat16) holds.
__device__ __forceinline__ void store_bf16_pack(__nv_bfloat16* __restrict__ out16, const float (&values)[4]) {
  uint2 raw;
  __nv_bfloat16* h = reinterpret_cast<__nv_bfloat16*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) h[k] = __float2bfloat16_rn(values[k]);
  *reinterpret_cast<uint2*>(out16) = raw;
}

// Stores norm_output(held * r, weight) for the lane's packs of a held row, and (fp32 rows, out16 not
// null) its bf16 copy.
template <typename T, typename W, int kPacksPerLane>
__device__ __forceinline__ void store_normed_row(const uint4 (&held)[kPacksPerLane], const W* __restrict__ weight,
                                                 T* __restrict__ out, float r, int packs, int lane, bool adds_one,
                                                 __nv_bfloat16* __restrict__ out16 = nullptr) {
  constexpr int kPack = 16 / sizeof(T);
#pragma unroll
  for (int p = 0; p < kPacksPerLane; ++p) {
    const int pack = p * 32 + lane;
    if (pack < packs) {
      const T* v = reinterpret_cast<const T*>(&held[p]);
      float values[kPack], w[kPack];
      load_aligned<kPack>(weight + pack * kPack, w);
#pragma unroll
      for (int k = 0; k < kPack; ++k) values[k] = norm_output<T>(to_float(v[k]) * r, w[k], adds_one);
      store_aligned<kPack>(out + pack * kPack, values);
      if constexpr (std::is_same_v<T, float>) {
        if (out16) store_bf16_pack(out16 + pack * kPack, values);
      }
    }
  }
}

// Where a warp-per-row kernel's warp works: its row (rows >= rows: none), lane, the row's 16-byte packs
// of T and the row's first element.
struct WarpRow {
  int64_t row;
  int lane;
  int packs;
  int64_t offset;
};
template <typename T>
__device__ __forceinline__ WarpRow warp_row(int width) {
  const int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  return WarpRow{row, int(threadIdx.x % 32), width / int(16 / sizeof(T)), row * width};
}

// The same for rows of at most 32 * kPacksPerLane packs of 16 bytes (Gemma-2 2B's 2304 and 9B's 3584
// bf16 columns, Llama's 4096): one warp per row holds the row in registers, so x is read once, the
// reduction is warp shuffles only, and every access is a 16-byte one. The block-per-row form above
// made 2-byte loads and read x twice (4.1 ms of norms per 2B eval batch of 4 x 2048 on the H200).
template <typename T, typename W, int kPacksPerLane>
__global__ void __launch_bounds__(kThreads)
rms_norm_forward_warp_rows(const T* __restrict__ x, const W* __restrict__ weight, T* __restrict__ y,
                           float* __restrict__ rstd, int64_t rows, int width, float eps, bool adds_one,
                           __nv_bfloat16* __restrict__ y16) {
  const WarpRow w = warp_row<T>(width);
  if (w.row >= rows) return;  // whole warps leave; nothing below synchronises the block
  uint4 held[kPacksPerLane];  // kept raw: half the registers of floats for bf16 rows
  const float squares = load_row_squares<T, kPacksPerLane>(x + w.offset, held, w.packs, w.lane);
  const float r = rsqrtf(warp_sum(squares) / float(width) + eps);
  store_normed_row<T, W, kPacksPerLane>(held, weight, y + w.offset, r, w.packs, w.lane, adds_one,
                                        y16 ? y16 + w.offset : nullptr);
  if (w.lane == 0) rstd[w.row] = r;
}

// A residual step with its norms, forward only: h_out = h + post(branch), normed = next(h_out), where
// post and next are RMSNorms whose weights may be absent (post absent: h + branch; next absent: no
// normed). Composed, Gemma-2's "h + post_norm(attention)" then "pre_ffn_norm(h)" is three kernels
// that read 5 and write 3 rows' worth; here one warp per row reads 2 and writes 2. Every value is
// rounded where the composed kernels round it (norm outputs and the sum in T).
template <typename T>
__device__ __forceinline__ uint4 raw_pack(const float (&v)[16 / sizeof(T)]) {
  uint4 raw;
  T* values = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int k = 0; k < int(16 / sizeof(T)); ++k) values[k] = from_float<T>(v[k]);
  return raw;
}

template <typename T, typename W, int kPacksPerLane>
__global__ void __launch_bounds__(kThreads)
residual_rms_norm_warp_rows(const T* __restrict__ h, const T* __restrict__ branch, const W* __restrict__ post_weight,
                            const W* __restrict__ next_weight, T* __restrict__ h_out, T* __restrict__ normed,
                            int64_t rows, int width, float eps, bool adds_one) {
  constexpr int kPack = 16 / sizeof(T);
  const WarpRow wr = warp_row<T>(width);
  if (wr.row >= rows) return;
  const int lane = wr.lane, packs = wr.packs;
  const int64_t offset = wr.offset;
  uint4 held[kPacksPerLane];
  float squares = load_row_squares<T, kPacksPerLane>(branch + offset, held, packs, lane);
  const float post_r = post_weight ? rsqrtf(warp_sum(squares) / float(width) + eps) : 0.0f;
  squares = 0.0f;
#pragma unroll
  for (int p = 0; p < kPacksPerLane; ++p) {
    const int pack = p * 32 + lane;
    if (pack < packs) {
      const T* b = reinterpret_cast<const T*>(&held[p]);
      float residual[kPack], w[kPack], sum[kPack];
      load_aligned<kPack>(h + offset + pack * kPack, residual);
      if (post_weight) load_aligned<kPack>(post_weight + pack * kPack, w);
#pragma unroll
      for (int k = 0; k < kPack; ++k) {
        const float y = post_weight ? norm_output<T>(to_float(b[k]) * post_r, w[k], adds_one) : to_float(b[k]);
        sum[k] = round_to<T>(__fadd_rn(residual[k], y));  // no FMA: y is rounded first, as when stored
        squares += sum[k] * sum[k];
      }
      held[p] = raw_pack<T>(sum);
      reinterpret_cast<uint4*>(h_out + offset)[pack] = held[p];
    }
  }
  if (!next_weight) return;
  const float next_r = rsqrtf(warp_sum(squares) / float(width) + eps);
  store_normed_row<T, W, kPacksPerLane>(held, next_weight, normed + offset, next_r, packs, lane, adds_one);
}

// hidden = h + post(branch), post an RMSNorm, for training: h (H) the residual stream and branch (B)
// a block's output, under bf16 autocast fp32 and bf16. Composed, the norm wrote y in B, then ATen's
// mixed-dtype add, an unvectorized kernel, read it back (about 18 us per 2048-row Gemma-2 2B call;
// 156 calls per QAT step). One warp per row as rms_norm_forward_warp_rows, so the same sum of squares
// and rstd (saved for the backward), y rounded to B and the sum to H: the composed values, bit for bit.
template <typename B, typename W, typename H, int kPacksPerLane>
__global__ void __launch_bounds__(kThreads)
rms_norm_add_warp_rows(const H* __restrict__ h, const B* __restrict__ branch, const W* __restrict__ weight,
                       H* __restrict__ hidden, float* __restrict__ rstd, int64_t rows, int width, float eps,
                       bool adds_one) {
  constexpr int kPack = 16 / sizeof(B);
  const WarpRow wr = warp_row<B>(width);
  if (wr.row >= rows) return;
  const int64_t offset = wr.offset;
  uint4 held[kPacksPerLane];
  const float squares = load_row_squares<B, kPacksPerLane>(branch + offset, held, wr.packs, wr.lane);
  const float r = rsqrtf(warp_sum(squares) / float(width) + eps);
#pragma unroll
  for (int p = 0; p < kPacksPerLane; ++p) {
    const int pack = p * 32 + wr.lane;
    if (pack < wr.packs) {
      const B* b = reinterpret_cast<const B*>(&held[p]);
      float residual[kPack], w[kPack], sum[kPack];
      load_aligned<kPack>(h + offset + pack * kPack, residual);
      load_aligned<kPack>(weight + pack * kPack, w);
#pragma unroll
      for (int k = 0; k < kPack; ++k) {
        sum[k] = __fadd_rn(residual[k], norm_output<B>(to_float(b[k]) * r, w[k], adds_one));  // y rounded first
      }
      store_aligned<kPack>(hidden + offset + pack * kPack, sum);
    }
  }
  if (wr.lane == 0) rstd[wr.row] = r;
}

// The same step for the few rows of a decode step: one block per row, so a single row is spread
// over 256 threads instead of one warp (which left a decode step's GPU nearly idle). Thread t holds
// the row's elements t, t + 256, ... (at most kBlockRowValues of them) and sums their squares in
// that order, as the block-per-row rms_norm_forward does: the result is bit for bit that of the
// composed add and block-per-row norms it replaces.
constexpr int kBlockRowValues = 16;  // rows of up to 4096 elements

template <typename T, typename W>
__global__ void __launch_bounds__(kThreads)
residual_rms_norm_block_rows(const T* __restrict__ h, const T* __restrict__ branch, const W* __restrict__ post_weight,
                             const W* __restrict__ next_weight, T* __restrict__ h_out, T* __restrict__ normed,
                             int width, float eps, bool adds_one) {
  const int64_t offset = int64_t(blockIdx.x) * width;
  float values[kBlockRowValues];
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kBlockRowValues; ++k) {
    const int j = k * kThreads + int(threadIdx.x);
    if (j < width) {
      values[k] = to_float(branch[offset + j]);
      squares += values[k] * values[k];
    }
  }
  // post_weight is the same for every thread, so the block reduces together or not at all.
  const float post_r = post_weight ? rsqrtf(block_reduce(squares, Sum{}) / float(width) + eps) : 0.0f;
  squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kBlockRowValues; ++k) {
    const int j = k * kThreads + int(threadIdx.x);
    if (j < width) {
      const float y = post_weight ? norm_output<T>(values[k] * post_r, to_float(post_weight[j]), adds_one) : values[k];
      values[k] = round_to<T>(__fadd_rn(to_float(h[offset + j]), y));  // no FMA: y is rounded first, as when stored
      h_out[offset + j] = from_float<T>(values[k]);
      squares += values[k] * values[k];
    }
  }
  if (!next_weight) return;
  const float next_r = rsqrtf(block_reduce(squares, Sum{}) / float(width) + eps);
#pragma unroll
  for (int k = 0; k < kBlockRowValues; ++k) {
    const int j = k * kThreads + int(threadIdx.x);
    if (j < width) {
      normed[offset + j] = from_float<T>(norm_output<T>(values[k] * next_r, to_float(next_weight[j]), adds_one));
    }
  }
}

// Packs per lane of the warp-per-row kernels for this row (4, 8, 12 or 16), or 0 where they do not
// apply: widths not whole 16-byte packs, wider than 512 packs, or weights whose pack is not whole
// 16-byte loads (bf16 weights of fp32 rows).
template <typename T, typename W>
int warp_row_packs_per_lane(int64_t width) {
  constexpr int kPack = 16 / sizeof(T);
  if constexpr ((kPack * sizeof(W)) % 16 != 0) {
    return 0;
  } else {
    if (width % kPack != 0) return 0;
    for (int per_lane : {4, 8, 12, 16}) {
      if (width / kPack <= 32 * per_lane) return per_lane;
    }
    return 0;
  }
}

// Calls launch(std::integral_constant<int, N>) for N = per_lane (one of warp_row_packs_per_lane's).
template <typename Launch>
int with_packs_per_lane(int per_lane, Launch launch) {
  switch (per_lane) {
    case 4: return launch(std::integral_constant<int, 4>{});
    case 8: return launch(std::integral_constant<int, 8>{});
    case 12: return launch(std::integral_constant<int, 12>{});
    case 16: return launch(std::integral_constant<int, 16>{});
    case 20: return launch(std::integral_constant<int, 20>{});
    default: return int(cudaErrorInvalidValue);
  }
}

int64_t warp_row_blocks(int64_t rows) { return (rows + kThreads / 32 - 1) / (kThreads / 32); }

// Fewer rows than this take the block-per-row kernels: one warp per row leaves the GPU nearly idle
// on a decode step's single row. Decode with the warp-per-row residual step at one row measured 379
// int2 tokens/s on the Gemma-2 2B shape with a CUDA graph, against 412 with the separate
// block-per-row kernels (H200, different machines of the same kind; results/bench/2026-11-30-s13/).
constexpr int64_t kWarpRowsMinRows = 128;

// Gemma: y = n (1 + w); Llama: y = w n. dn = dy * (1 + w) or dy * w; dw += dy * n;
// dx = rstd * (dn - n * mean(dn * n)). Each block strides over rows and keeps its dw partial
// sums for the columns it owns in registers. G: dy's dtype, T or (rms_norm_add's backward) fp32,
// rounded to T first as the composed form's cast of the sum's gradient to the branch's dtype does.
template <typename T, typename W, typename G>
__global__ void __launch_bounds__(kThreads)
rms_norm_backward(const G* __restrict__ grad_y, const T* __restrict__ x, const W* __restrict__ weight,
                  const float* __restrict__ rstd, T* __restrict__ grad_x, float* __restrict__ partials,
                  int64_t rows, int64_t width, bool adds_one, const T* __restrict__ added) {
  float dw[kMaxColumnsPerThread];
  for (int k = 0; k < kMaxColumnsPerThread; ++k) dw[k] = 0.0f;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* in = x + row * width;
    const G* dy = grad_y + row * width;
    const float r = rstd[row];
    float dot = 0.0f;
    int k = 0;
    #pragma unroll 4
    for (int64_t j = threadIdx.x; j < width; j += kThreads, ++k) {
      const float n = to_float(in[j]) * r;
      const float g = round_to<T>(to_float(dy[j]));
      const float w = to_float(weight[j]);
      dot += g * (adds_one ? 1.0f + w : w) * n;
      dw[k] += g * n;
    }
    dot = block_reduce(dot, Sum{}) / float(width);
    T* out = grad_x + row * width;
    #pragma unroll 4
    for (int64_t j = threadIdx.x; j < width; j += kThreads) {
      const float n = to_float(in[j]) * r;
      const float w = to_float(weight[j]);
      const float dn = round_to<T>(to_float(dy[j])) * (adds_one ? 1.0f + w : w);
      const float dx = r * (dn - n * dot);
      // added: another gradient of x, summed as autograd would sum the two tensors (in T, no FMA).
      out[j] = added ? from_float<T>(__fadd_rn(round_to<T>(dx), to_float(added[row * width + j]))) : from_float<T>(dx);
    }
  }
  int k = 0;
  #pragma unroll 4
  for (int64_t j = threadIdx.x; j < width; j += kThreads, ++k) partials[blockIdx.x * width + j] = dw[k];
}

// The same backward with one warp per row and 16-byte accesses: the block-per-row form above made
// 4- and 2-byte loads and synchronised its block per row, reaching about 1.9 TB/s on the QAT step's
// fp32 residual rows (6.5 ms of norm backward per 2B step on the H200). Each warp sums dw for its
// rows in its own slice of shared memory (lane l owns packs l, l + 32, ... as in the forward), so no
// atomics are needed; the block then writes one row of partials. With kHeld > 0 (rows of at most
// 32 kHeld packs) the lane keeps its packs of x in registers between the two passes over the row:
// re-read, x came back from DRAM, since a step's rows are all in flight at once (5.7 ms, about
// 2.1 TB/s of compulsory traffic). dy and the weight are read twice, the weight from L1 and L2.
constexpr int kBackwardWarps = kThreads / 32;

// Calls visit(p, values) for each pack p of a row that a lane owns (lane, lane + 32, ...). With
// kHeld > 0 the values come from `held`, which `fill` first loads from `in`; otherwise from `in`.
template <typename T, int kHeld, typename Visit>
__device__ __forceinline__ void visit_lane_packs(const T* __restrict__ in, uint4 (&held)[kHeld > 0 ? kHeld : 1],
                                                 bool fill, int packs, int lane, Visit&& visit) {
  constexpr int kPack = 16 / sizeof(T);
  if constexpr (kHeld > 0) {
#pragma unroll
    for (int h = 0; h < kHeld; ++h) {
      const int p = lane + 32 * h;
      if (p < packs) {
        if (fill) held[h] = reinterpret_cast<const uint4*>(in)[p];
        float v[kPack];
        unpack_pack<T>(held[h], v);
        visit(p, v);
      }
    }
  } else {
#pragma unroll 2
    for (int p = lane; p < packs; p += 32) {
      float v[kPack];
      load_aligned<kPack>(in + p * kPack, v);
      visit(p, v);
    }
  }
}

template <typename T, typename W, typename G, int kHeld>
__global__ void __launch_bounds__(kThreads)
rms_norm_backward_warp_rows(const G* __restrict__ grad_y, const T* __restrict__ x, const W* __restrict__ weight,
                            const float* __restrict__ rstd, T* __restrict__ grad_x, float* __restrict__ partials,
                            int64_t rows, int width, bool adds_one, const T* __restrict__ added) {
  constexpr int kPack = 16 / sizeof(T);
  extern __shared__ float4 dw_shared[];  // kBackwardWarps slices of width floats
  float* const dw_all = reinterpret_cast<float*>(dw_shared);
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int packs = width / kPack;
  for (int j = threadIdx.x; j < kBackwardWarps * width; j += kThreads) dw_all[j] = 0.0f;
  __syncthreads();
  float4* const dw = dw_shared + warp * (width / 4);  // 16-byte accesses: no bank conflicts for fp32 rows
  for (int64_t row = int64_t(blockIdx.x) * kBackwardWarps + warp; row < rows;
       row += int64_t(gridDim.x) * kBackwardWarps) {
    const T* in = x + row * width;
    const G* dy = grad_y + row * width;
    const float r = rstd[row];
    float dot = 0.0f;
    auto add_to_dot = [&](int p, const float (&v)[kPack]) {
      float g[kPack], w[kPack];
      load_aligned<kPack>(dy + p * kPack, g);
      load_aligned<kPack>(weight + p * kPack, w);
#pragma unroll
      for (int k = 0; k < kPack; ++k) dot += round_to<T>(g[k]) * (adds_one ? 1.0f + w[k] : w[k]) * (v[k] * r);
    };
    uint4 held[kHeld > 0 ? kHeld : 1];
    visit_lane_packs<T, kHeld>(in, held, /*fill=*/true, packs, lane, add_to_dot);
    dot = warp_sum(dot) / float(width);
    T* out = grad_x + row * width;
    auto write_gradients = [&](int p, const float (&v)[kPack]) {
      float g[kPack], w[kPack], dx[kPack], other[kPack], gn[kPack];
      load_aligned<kPack>(dy + p * kPack, g);
      load_aligned<kPack>(weight + p * kPack, w);
      if (added) load_aligned<kPack>(added + row * width + p * kPack, other);
#pragma unroll
      for (int k = 0; k < kPack; ++k) {
        const float n = v[k] * r;
        const float gk = round_to<T>(g[k]);
        const float dn = gk * (adds_one ? 1.0f + w[k] : w[k]);
        const float d = r * (dn - n * dot);
        // added: another gradient of x, summed as autograd would sum the two tensors (in T, no FMA).
        dx[k] = added ? __fadd_rn(round_to<T>(d), other[k]) : d;
        gn[k] = gk * n;
      }
      store_aligned<kPack>(out + p * kPack, dx);
#pragma unroll
      for (int q = 0; q < kPack / 4; ++q) {
        float4& sum = dw[p * (kPack / 4) + q];
        sum = make_float4(sum.x + gn[4 * q], sum.y + gn[4 * q + 1], sum.z + gn[4 * q + 2], sum.w + gn[4 * q + 3]);
      }
    };
    visit_lane_packs<T, kHeld>(in, held, /*fill=*/false, packs, lane, write_gradients);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < width; j += kThreads) {
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kBackwardWarps; ++w) sum += dw_all[w * width + j];
    partials[int64_t(blockIdx.x) * width + j] = sum;
  }
}

// Packs per lane the backward keeps in registers for rows of `packs` 16-byte packs (0: none).
int backward_held_packs(int64_t packs) { return packs <= 32 * 12 ? 12 : packs <= 32 * 20 ? 20 : 0; }

// Column sums of the fp32 [rows, width] partials, in fp32 and in a fixed order, written in W: the
// norm weight's gradient. (A cuBLAS matrix-vector product with a ones vector did this before; under
// autocast it ran in bf16, and with its casts it was five launches per norm backward.)
template <typename W>
__global__ void __launch_bounds__(kThreads)
column_sums(const float* __restrict__ partials, W* __restrict__ sums, int64_t rows, int64_t width) {
  __shared__ float group_sums[kThreads / 32][33];
  const int lane = int(threadIdx.x) % 32, group = int(threadIdx.x) / 32;
  const int64_t column = int64_t(blockIdx.x) * 32 + lane;
  float sum = 0.0f;
  if (column < width) {
#pragma unroll 4
    for (int64_t r = group; r < rows; r += kThreads / 32) sum += partials[r * width + column];
  }
  group_sums[group][lane] = sum;
  __syncthreads();
  if (group == 0 && column < width) {
    float total = 0.0f;
#pragma unroll
    for (int g = 0; g < kThreads / 32; ++g) total += group_sums[g][lane];
    sums[column] = from_float<W>(total);
  }
}

// Widest rows the warp-per-row backward takes: its shared memory holds kBackwardWarps rows of fp32.
constexpr int64_t kBackwardWarpRowsMaxWidth = 6144;  // 192 KiB of shared memory
constexpr int64_t kBackwardWarpRowsMaxBlocks = 264;   // two blocks per SM on the H200 (widths up to ~3.6k)

}  // namespace

int64_t rms_norm_backward_blocks(int64_t rows) { return std::min<int64_t>(rows, 528); }

int launch_rms_norm_forward(Dtype dtype, Dtype weight_dtype, const void* x, const void* weight, void* y, float* rstd,
                            int64_t rows, int64_t width, float eps, bool adds_one, void* stream, void* y_bf16) {
  if (y_bf16 && dtype != Dtype::kFloat32) return int(cudaErrorInvalidValue);
  auto* y16 = static_cast<__nv_bfloat16*>(y_bf16);
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      using T = decltype(x_zero);
      using W = decltype(w_zero);
      const cudaStream_t s = static_cast<cudaStream_t>(stream);
      int per_lane = warp_row_packs_per_lane<T, W>(width);
      // Forward only: rows up to 640 packs too (Gemma-2 2B's fp32 residual stream, 576 packs of 2304
      // columns, took the block-per-row kernel: 1.6 ms per QAT step).
      if (per_lane == 0 && width % (16 / sizeof(T)) == 0 && width / (16 / sizeof(T)) <= 32 * 20 &&
          (16 / sizeof(T) * sizeof(W)) % 16 == 0) {
        per_lane = 20;
      }
      if (per_lane && rows >= kWarpRowsMinRows && aligned16(x) && aligned16(weight) && aligned16(y) && aligned16(y16) &&
          warp_row_blocks(rows) < (int64_t(1) << 31)) {
        return with_packs_per_lane(per_lane, [&](auto packs_per_lane) {
          [[maybe_unused]] constexpr int kPerLane = decltype(packs_per_lane)::value;
          if constexpr ((16 / sizeof(T) * sizeof(W)) % 16 == 0) {
            rms_norm_forward_warp_rows<T, W, kPerLane><<<warp_row_blocks(rows), kThreads, 0, s>>>(
                static_cast<const T*>(x), static_cast<const W*>(weight), static_cast<T*>(y), rstd, rows, int(width),
                eps, adds_one, y16);
          }
          return int(cudaGetLastError());
        });
      }
      rms_norm_forward<T, W><<<rows, kThreads, 0, s>>>(
          static_cast<const T*>(x), static_cast<const W*>(weight), static_cast<T*>(y), rstd, width, eps, adds_one, y16);
      return int(cudaGetLastError());
    });
  });
}

bool residual_rms_norm_supported(Dtype dtype, Dtype weight_dtype, int64_t width, int64_t rows) {
  if (rows < 1 || rows >= (int64_t(1) << 31) || width > int64_t(kThreads) * kBlockRowValues) return false;
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      return int(warp_row_packs_per_lane<decltype(x_zero), decltype(w_zero)>(width) != 0);
    });
  }) != 0;
}

int launch_residual_rms_norm(Dtype dtype, Dtype weight_dtype, const void* h, const void* branch,
                             const void* post_weight, const void* next_weight, void* h_out, void* normed,
                             int64_t rows, int64_t width, float eps, bool adds_one, void* stream) {
  for (const void* p : {h, branch, post_weight, next_weight, static_cast<const void*>(h_out),
                        static_cast<const void*>(normed)}) {
    if (!aligned16(p)) return int(cudaErrorMisalignedAddress);
  }
  if ((next_weight == nullptr) != (normed == nullptr) || warp_row_blocks(rows) >= (int64_t(1) << 31)) {
    return int(cudaErrorInvalidValue);
  }
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      using T = decltype(x_zero);
      using W = decltype(w_zero);
      const int per_lane = warp_row_packs_per_lane<T, W>(width);
      if (per_lane == 0 || width > int64_t(kThreads) * kBlockRowValues) return int(cudaErrorInvalidValue);
      if (rows < kWarpRowsMinRows) {
        residual_rms_norm_block_rows<T, W><<<unsigned(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
            static_cast<const T*>(h), static_cast<const T*>(branch), static_cast<const W*>(post_weight),
            static_cast<const W*>(next_weight), static_cast<T*>(h_out), static_cast<T*>(normed), int(width), eps,
            adds_one);
        return int(cudaGetLastError());
      }
      return with_packs_per_lane(per_lane, [&](auto packs_per_lane) {
        [[maybe_unused]] constexpr int kPerLane = decltype(packs_per_lane)::value;
        if constexpr ((16 / sizeof(T) * sizeof(W)) % 16 == 0) {
          residual_rms_norm_warp_rows<T, W, kPerLane><<<warp_row_blocks(rows), kThreads, 0,
                                                        static_cast<cudaStream_t>(stream)>>>(
              static_cast<const T*>(h), static_cast<const T*>(branch), static_cast<const W*>(post_weight),
              static_cast<const W*>(next_weight), static_cast<T*>(h_out), static_cast<T*>(normed), rows, int(width),
              eps, adds_one);
        }
        return int(cudaGetLastError());
      });
    });
  });
}

int launch_rms_norm_backward(Dtype dtype, Dtype weight_dtype, const void* grad_y, const void* x, const void* weight,
                             const float* rstd, void* grad_x, void* grad_weight, float* weight_partials, int64_t rows,
                             int64_t width, bool adds_one, void* stream, bool fp32_grad, const void* added_grad) {
  if (width > int64_t(kThreads) * kMaxColumnsPerThread || rows < 0) return int(cudaErrorInvalidValue);
  const bool aligned = aligned16(grad_y) && aligned16(x) && aligned16(weight) && aligned16(grad_x) &&
                       aligned16(added_grad) && aligned16(weight_partials);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      using T = decltype(x_zero);
      using W = decltype(w_zero);
      auto launch = [&](auto g_zero) {
        using G = decltype(g_zero);
        constexpr int kPack = 16 / sizeof(T);
        int64_t blocks = rms_norm_backward_blocks(rows);
        bool warp_rows = false;
        if constexpr ((kPack * sizeof(W)) % 16 == 0 && (kPack * sizeof(G)) % 16 == 0) {
          const int shared = int(kBackwardWarps * width * sizeof(float));
          const int held = backward_held_packs(width / kPack);
          auto* kernel = held == 12   ? rms_norm_backward_warp_rows<T, W, G, 12>
                         : held == 20 ? rms_norm_backward_warp_rows<T, W, G, 20>
                                      : rms_norm_backward_warp_rows<T, W, G, 0>;
          // Set at every launch (legal while a CUDA graph is captured), so every device has it. A
          // device whose shared memory is smaller than the row needs refuses it (A100 above 5216
          // columns, 100 KiB parts above about 3100): those rows take the block kernel.
          warp_rows = aligned && width % kPack == 0 && width <= kBackwardWarpRowsMaxWidth && rows > 0;
          if (warp_rows && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared) != cudaSuccess) {
            (void)cudaGetLastError();  // a refused attribute is not a launch error
            warp_rows = false;
          }
          if (warp_rows) {
            blocks = std::min<int64_t>((rows + kBackwardWarps - 1) / kBackwardWarps, kBackwardWarpRowsMaxBlocks);
            kernel<<<blocks, kThreads, shared, s>>>(static_cast<const G*>(grad_y), static_cast<const T*>(x),
                                                    static_cast<const W*>(weight), rstd, static_cast<T*>(grad_x),
                                                    weight_partials, rows, int(width), adds_one,
                                                    static_cast<const T*>(added_grad));
          }
        }
        if (!warp_rows && rows > 0) {
          rms_norm_backward<T, W, G><<<blocks, kThreads, 0, s>>>(
              static_cast<const G*>(grad_y), static_cast<const T*>(x), static_cast<const W*>(weight), rstd,
              static_cast<T*>(grad_x), weight_partials, rows, width, adds_one, static_cast<const T*>(added_grad));
        }
        if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return int(e);
        if (width > 0) {
          column_sums<W><<<(width + 31) / 32, kThreads, 0, s>>>(weight_partials, static_cast<W*>(grad_weight), blocks,
                                                                width);
        }
        return int(cudaGetLastError());
      };
      return fp32_grad ? launch(float{}) : launch(T{});
    });
  });
}

bool rms_norm_add_supported(Dtype dtype, Dtype weight_dtype, Dtype hidden_dtype, int64_t width, int64_t rows) {
  if (rows < kWarpRowsMinRows || warp_row_blocks(rows) >= (int64_t(1) << 31)) return false;
  if (hidden_dtype != dtype && hidden_dtype != Dtype::kFloat32) return false;
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      return int(warp_row_packs_per_lane<decltype(x_zero), decltype(w_zero)>(width) != 0);
    });
  }) != 0;
}

int launch_rms_norm_add(Dtype dtype, Dtype weight_dtype, Dtype hidden_dtype, const void* h, const void* branch,
                        const void* weight, void* hidden, float* rstd, int64_t rows, int64_t width, float eps,
                        bool adds_one, void* stream) {
  for (const void* p : {h, branch, weight, static_cast<const void*>(hidden)}) {
    if (!aligned16(p)) return int(cudaErrorMisalignedAddress);
  }
  if (!rms_norm_add_supported(dtype, weight_dtype, hidden_dtype, width, rows)) return int(cudaErrorInvalidValue);
  return dispatch(dtype, [&](auto x_zero) {
    return dispatch(weight_dtype, [&](auto w_zero) {
      using B = decltype(x_zero);
      using W = decltype(w_zero);
      auto launch = [&](auto h_zero) {
        using H = decltype(h_zero);
        return with_packs_per_lane(warp_row_packs_per_lane<B, W>(width), [&](auto packs_per_lane) {
          [[maybe_unused]] constexpr int kPerLane = decltype(packs_per_lane)::value;
          if constexpr ((16 / sizeof(B) * sizeof(W)) % 16 == 0) {
            rms_norm_add_warp_rows<B, W, H, kPerLane><<<warp_row_blocks(rows), kThreads, 0,
                                                        static_cast<cudaStream_t>(stream)>>>(
                static_cast<const H*>(h), static_cast<const B*>(branch), static_cast<const W*>(weight),
                static_cast<H*>(hidden), rstd, rows, int(width), eps, adds_one);
          }
          return int(cudaGetLastError());
        });
      };
      return hidden_dtype == Dtype::kFloat32 ? launch(float{}) : launch(B{});
    });
  });
}

}  // namespace matquant::kernels
