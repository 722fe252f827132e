// One decode step's attention in one kernel: the new key and value written into a fixed-capacity
// cache at the step's position, then softmax(mask(cap * tanh(scale * q k^T / cap))) v for the one
// new query of each row over keys 0 .. position. The route it replaces (model/generation.cpp's
// static step) launches two cache writes, Q K^T over the whole capacity, the fused softmax and
// P V: five kernels per layer, each a few microseconds of latency at decode sizes, and all of
// them reading the unfilled capacity too. The position is read on the device, so a CUDA graph
// captured once replays with the loop bound of each step.
//
// A block serves one (row, key/value head) and the G query heads that share it. Its eight warps
// take runs of four keys in turn; a lane holds D / 32 of a key's values, its share of the G queries and of the G
// output accumulators, all in fp32. Per key: G dot products (lane partials, then a butterfly
// reduction), the cap and an online softmax per head (FlashAttention's running max and sum), and
// the value row folded into the accumulators. The warps' partial (max, sum, accumulator) meet in
// shared memory at the end. Maths in fp32 (accurate tanh and exp): closer to the fp32 result than
// the bf16 route, whose scores and probabilities are rounded to bf16.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

constexpr int kWarps = 8;
// Keys a warp loads before it computes on any of them: their loads overlap instead of each one
// waiting for the previous key's arithmetic.
constexpr int kUnroll = 4;

template <int E>
struct Lanes;  // E consecutive bf16 values of a lane, loaded or stored at once
template <>
struct Lanes<2> {
  using Word = uint32_t;
};
template <>
struct Lanes<4> {
  using Word = uint2;
};
template <>
struct Lanes<8> {
  using Word = uint4;
};

template <int E>
__device__ __forceinline__ typename Lanes<E>::Word load_word(const __nv_bfloat16* p) {
  return *reinterpret_cast<const typename Lanes<E>::Word*>(p);
}

template <int E>
__device__ __forceinline__ void unpack(const typename Lanes<E>::Word& word, float (&out)[E]) {
  const __nv_bfloat16* v = reinterpret_cast<const __nv_bfloat16*>(&word);
#pragma unroll
  for (int e = 0; e < E; ++e) out[e] = __bfloat162float(v[e]);
}

template <int E>
__device__ __forceinline__ void load_row(const __nv_bfloat16* p, float (&out)[E]) {
  unpack<E>(load_word<E>(p), out);
}

template <int E>
__device__ __forceinline__ void copy_row(const __nv_bfloat16* from, __nv_bfloat16* to) {
  using Word = typename Lanes<E>::Word;
  *reinterpret_cast<Word*>(to) = *reinterpret_cast<const Word*>(from);
}

// RoPE on a lane's E values of a row (elements lane * E ..): rotate_half pairs element j with
// j + D / 2, which lane lane ^ 16 holds at the same e. The rope kernel's roundings (lib/kernels/
// rope.cu, bf16 x and tables): each product and the sum rounded to bf16, no FMA.
template <int E>
__device__ __forceinline__ void rotate(float (&x)[E], const float (&cos)[E], const float (&sin)[E], int lane) {
  const bool upper = lane >= 16;  // holds x2 (out = x2 c2 + x1 s2); the lower half x1 (x1 c1 - x2 s1)
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const float partner = __shfl_xor_sync(0xffffffffu, x[e], 16);
    const float turned = round_to<__nv_bfloat16>(__fmul_rn(upper ? partner : -partner, sin[e]));
    x[e] = round_to<__nv_bfloat16>(__fadd_rn(round_to<__nv_bfloat16>(__fmul_rn(x[e], cos[e])), turned));
  }
}

template <int E>
__device__ __forceinline__ void store_row(const float (&v)[E], __nv_bfloat16* to) {
  typename Lanes<E>::Word word;
  __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(&word);
#pragma unroll
  for (int e = 0; e < E; ++e) out[e] = __float2bfloat16(v[e]);  // exact: v is a rounded bf16 value
  *reinterpret_cast<typename Lanes<E>::Word*>(to) = word;
}

template <int D, int G>
__global__ void __launch_bounds__(kWarps * 32) decode_attention_kernel(
    const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k_new,
    const __nv_bfloat16* __restrict__ v_new, __nv_bfloat16* key_cache, __nv_bfloat16* value_cache,
    const int64_t* __restrict__ position, const bool* __restrict__ mask, const __nv_bfloat16* __restrict__ rope_cos,
    const __nv_bfloat16* __restrict__ rope_sin, __nv_bfloat16* __restrict__ out, DecodeAttentionShape shape,
    float scale, float cap) {
  constexpr int E = D / 32;
  const int kv = blockIdx.x, row = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t p = *position;
  // The caller keeps the position inside the cache (CapturedDecoder checks it on the host); past
  // it, the index_copy_ this replaces would fail on the device too, so fail rather than attend.
  if (p < 0 || p >= shape.capacity) __trap();
  __nv_bfloat16* keys = key_cache + row * shape.cache_batch + kv * shape.cache_head;
  __nv_bfloat16* values = value_cache + row * shape.value_batch + kv * shape.value_head;
  const bool rotates = rope_cos != nullptr;
  float cos[E], sin[E];
  if (rotates) {
    load_row<E>(rope_cos + row * shape.table_batch + lane * E, cos);
    load_row<E>(rope_sin + row * shape.table_batch + lane * E, sin);
  }
  // The new key (rotated) and value into the cache; visible to the whole block after the barrier.
  const __nv_bfloat16* new_key = k_new + row * shape.k_batch + kv * shape.k_head + lane * E;
  __nv_bfloat16* key_slot = keys + p * shape.cache_token + lane * E;
  if (warp == 0 && rotates) {
    float key[E];
    load_row<E>(new_key, key);
    rotate<E>(key, cos, sin, lane);
    store_row<E>(key, key_slot);
  } else if (warp == 0) {
    copy_row<E>(new_key, key_slot);
  }
  if (warp == 1) copy_row<E>(v_new + row * shape.v_batch + kv * shape.v_head + lane * E, values + p * shape.value_token + lane * E);
  __syncthreads();

  float query[G][E], acc[G][E], running_max[G], running_sum[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    load_row<E>(q + row * shape.q_batch + (kv * G + g) * shape.q_head + lane * E, query[g]);
    if (rotates) rotate<E>(query[g], cos, sin, lane);
    running_max[g] = -INFINITY;
    running_sum[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[g][e] = 0.0f;
  }
  const bool* row_mask = mask ? mask + row * shape.mask_batch : nullptr;
  const int64_t last = p;  // keys after the new one are not attended
  using Word = typename Lanes<E>::Word;
  for (int64_t base = int64_t(warp) * kUnroll; base <= last; base += kWarps * kUnroll) {
    Word key_words[kUnroll], value_words[kUnroll];
    bool allowed[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t j = base + u;
      allowed[u] = j <= last;
      if (!allowed[u]) continue;
      // Masked keys are loaded too (they are in the cache): no load waits on the mask's.
      key_words[u] = load_word<E>(keys + j * shape.cache_token + lane * E);
      value_words[u] = load_word<E>(values + j * shape.value_token + lane * E);
      if (row_mask) allowed[u] = row_mask[j];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (!allowed[u]) continue;
      float key[E], value[E];
      unpack<E>(key_words[u], key);
      unpack<E>(value_words[u], value);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e) s = fmaf(query[g][e], key[e], s);
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
        s *= scale;
        if (cap > 0.0f) s = cap * tanhf(s / cap);
        const float new_max = fmaxf(running_max[g], s);
        const float correction = expf(running_max[g] - new_max);  // 0 on the first allowed key
        const float weight = expf(s - new_max);
        running_sum[g] = running_sum[g] * correction + weight;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[g][e] = fmaf(acc[g][e], correction, weight * value[e]);
        running_max[g] = new_max;
      }
    }
  }

  // The warps' partial softmaxes, combined per head.
  __shared__ float shared_max[kWarps][G], shared_sum[kWarps][G];
  __shared__ float shared_acc[kWarps][G][D];
  if (lane == 0) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
      shared_max[warp][g] = running_max[g];
      shared_sum[warp][g] = running_sum[g];
    }
  }
#pragma unroll
  for (int g = 0; g < G; ++g) {
#pragma unroll
    for (int e = 0; e < E; ++e) shared_acc[warp][g][lane * E + e] = acc[g][e];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * D; i += kWarps * 32) {
    const int g = i / D, d = i % D;
    float top = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, shared_max[w][g]);
    float sum = 0.0f, total = 0.0f;
    if (top != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        if (shared_max[w][g] == -INFINITY) continue;  // a warp that saw no allowed key
        const float f = expf(shared_max[w][g] - top);
        sum += shared_sum[w][g] * f;
        total += shared_acc[w][g][d] * f;
      }
    }
    // A row with no allowed key gives 0, as the one-kernel forward does.
    out[row * shape.o_batch + (kv * G + g) * shape.o_head + d] = __float2bfloat16(sum > 0.0f ? total / sum : 0.0f);
  }
}

template <int D>
int launch_for_dim(int group, const dim3& grid, const void* q, const void* k_new, const void* v_new, void* key_cache,
                   void* value_cache, const int64_t* position, const bool* mask, const void* cos, const void* sin,
                   void* out, const DecodeAttentionShape& shape, float scale, float cap, cudaStream_t stream) {
  const auto* qp = static_cast<const __nv_bfloat16*>(q);
  const auto* kp = static_cast<const __nv_bfloat16*>(k_new);
  const auto* vp = static_cast<const __nv_bfloat16*>(v_new);
  auto* kc = static_cast<__nv_bfloat16*>(key_cache);
  auto* vc = static_cast<__nv_bfloat16*>(value_cache);
  auto* op = static_cast<__nv_bfloat16*>(out);
  const auto* cp = static_cast<const __nv_bfloat16*>(cos);
  const auto* sp = static_cast<const __nv_bfloat16*>(sin);
  switch (group) {
    case 1:
      decode_attention_kernel<D, 1><<<grid, kWarps * 32, 0, stream>>>(qp, kp, vp, kc, vc, position, mask, cp, sp, op, shape, scale, cap);
      break;
    case 2:
      decode_attention_kernel<D, 2><<<grid, kWarps * 32, 0, stream>>>(qp, kp, vp, kc, vc, position, mask, cp, sp, op, shape, scale, cap);
      break;
    case 4:
      decode_attention_kernel<D, 4><<<grid, kWarps * 32, 0, stream>>>(qp, kp, vp, kc, vc, position, mask, cp, sp, op, shape, scale, cap);
      break;
    default:
      return int(cudaErrorInvalidValue);
  }
  return int(cudaGetLastError());
}

}  // namespace

bool decode_attention_supported(int64_t batch, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  if (kv_heads <= 0 || heads % kv_heads != 0) return false;
  const int64_t group = heads / kv_heads;
  return (head_dim == 64 || head_dim == 128 || head_dim == 256) && (group == 1 || group == 2 || group == 4) &&
         batch >= 1 && batch <= 65535 && kv_heads <= 65535;
}

int launch_decode_attention(const void* q, const void* k_new, const void* v_new, void* key_cache, void* value_cache,
                            const int64_t* position, const bool* mask, const void* cos, const void* sin, void* out,
                            const DecodeAttentionShape& shape, float scale, float cap, void* stream) {
  if (!decode_attention_supported(shape.batch, shape.heads, shape.kv_heads, shape.head_dim) || (cos == nullptr) != (sin == nullptr)) {
    return int(cudaErrorInvalidValue);
  }
  const int group = int(shape.heads / shape.kv_heads);
  const dim3 grid(unsigned(shape.kv_heads), unsigned(shape.batch));
  const auto s = static_cast<cudaStream_t>(stream);
  switch (shape.head_dim) {
    case 64:
      return launch_for_dim<64>(group, grid, q, k_new, v_new, key_cache, value_cache, position, mask, cos, sin, out, shape, scale, cap, s);
    case 128:
      return launch_for_dim<128>(group, grid, q, k_new, v_new, key_cache, value_cache, position, mask, cos, sin, out, shape, scale, cap, s);
    default:
      return launch_for_dim<256>(group, grid, q, k_new, v_new, key_cache, value_cache, position, mask, cos, sin, out, shape, scale, cap, s);
  }
}

}  // namespace matquant::kernels
