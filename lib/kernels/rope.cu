// Rotary position embedding x * cos + rotate_half(x) * sin (model/rope.cpp's apply_rope) in one
// pass, forward and backward, where the composed form runs a slice, a negation, a concatenation,
// two products and a sum (and, backward, their adjoints). Each thread owns one pair (j, j + d/2),
// the two elements rotate_half mixes. The composed form's roundings are kept: products and the sum
// are rounded to the result dtype (the promotion of x's and the tables' dtypes) as separate ATen
// kernels would round them (__fmul_rn / __fadd_rn: no contraction into FMAs), and the backward
// rounds each product to x's dtype before summing, as autograd's type-promotion adjoints do.
// Under bf16 autocast the fp32 result of bf16 rows and fp32 tables only ever feeds the attention's
// matmuls, which cast it to bf16; the kernels can store it as bf16 directly (one rounding of the
// same fp32 value, so the same bits) and take the bf16 gradient those matmuls return. That drops
// the casts on both sides: six kernels per layer and precision of a QAT step.
#include "kernels/kernel_common.cuh"

#include <algorithm>
#include <initializer_list>

namespace matquant::kernels {
namespace {

template <typename X, typename C>
using Promoted = std::conditional_t<std::is_same_v<X, __nv_bfloat16> && std::is_same_v<C, __nv_bfloat16>,
                                    __nv_bfloat16, float>;

struct Coordinates {
  int64_t b, h, t, j;
};

__device__ __forceinline__ Coordinates coordinates(int64_t pair, const RopeShape& s) {
  const int64_t half = s.head_dim / 2;
  Coordinates c;
  c.j = pair % half;
  int64_t rest = pair / half;
  c.t = rest % s.tokens;
  rest /= s.tokens;
  c.h = rest % s.heads;
  c.b = rest / s.heads;
  return c;
}

// O: the stored dtype, Promoted<X, C> or bf16 (module comment); P rounds the products and the sum.
template <typename X, typename C, typename O>
__global__ void __launch_bounds__(kThreads)
rope_forward(const X* __restrict__ x, const C* __restrict__ cos, const C* __restrict__ sin,
             O* __restrict__ out, RopeShape s) {
  using P = Promoted<X, C>;
  const int64_t half = s.head_dim / 2;
  const int64_t pairs = s.batch * s.heads * s.tokens * half;
  for (int64_t pair = int64_t(blockIdx.x) * kThreads + threadIdx.x; pair < pairs;
       pair += int64_t(gridDim.x) * kThreads) {
    const Coordinates c = coordinates(pair, s);
    const X* xr = x + c.b * s.x_batch + c.h * s.x_head + c.t * s.x_token;
    const int64_t table = (s.table_batch ? c.b * s.table_batch : 0) + c.t * s.table_token;
    const float x1 = to_float(xr[c.j]), x2 = to_float(xr[c.j + half]);
    const float c1 = to_float(cos[table + c.j]), c2 = to_float(cos[table + c.j + half]);
    const float s1 = to_float(sin[table + c.j]), s2 = to_float(sin[table + c.j + half]);
    O* o = out + ((c.b * s.heads + c.h) * s.tokens + c.t) * s.head_dim;
    // rotate_half(x) = (-x2, x1); each product and the sum rounded to O.
    o[c.j] = from_float<O>(round_to<P>(__fadd_rn(round_to<P>(__fmul_rn(x1, c1)), round_to<P>(__fmul_rn(-x2, s1)))));
    o[c.j + half] =
        from_float<O>(round_to<P>(__fadd_rn(round_to<P>(__fmul_rn(x2, c2)), round_to<P>(__fmul_rn(x1, s2)))));
  }
}

// G: the gradient's dtype, the forward's stored one.
template <typename X, typename C, typename G>
__global__ void __launch_bounds__(kThreads)
rope_backward(const G* __restrict__ grad_out, const C* __restrict__ cos, const C* __restrict__ sin,
              X* __restrict__ grad_x, RopeShape s) {
  const int64_t half = s.head_dim / 2;
  const int64_t pairs = s.batch * s.heads * s.tokens * half;
  for (int64_t pair = int64_t(blockIdx.x) * kThreads + threadIdx.x; pair < pairs;
       pair += int64_t(gridDim.x) * kThreads) {
    const Coordinates c = coordinates(pair, s);
    const int64_t row = ((c.b * s.heads + c.h) * s.tokens + c.t) * s.head_dim;
    const int64_t x_row = c.b * s.x_batch + c.h * s.x_head + c.t * s.x_token;  // grad_x in x's strides
    const int64_t table = (s.table_batch ? c.b * s.table_batch : 0) + c.t * s.table_token;
    const float g1 = to_float(grad_out[row + c.j]), g2 = to_float(grad_out[row + c.j + half]);
    const float c1 = to_float(cos[table + c.j]), c2 = to_float(cos[table + c.j + half]);
    const float s1 = to_float(sin[table + c.j]), s2 = to_float(sin[table + c.j + half]);
    // d x1: from x1 * c1 and from rotate_half's second half (x1 * s2); d x2: x2 * c2 and -x2 * s1.
    grad_x[x_row + c.j] = from_float<X>(__fadd_rn(round_to<X>(__fmul_rn(g1, c1)), round_to<X>(__fmul_rn(g2, s2))));
    grad_x[x_row + c.j + half] =
        from_float<X>(__fadd_rn(round_to<X>(__fmul_rn(g2, c2)), -round_to<X>(__fmul_rn(g1, s1))));
  }
}

// The same, 8 pairs per thread in 16-byte accesses, when every row starts 16-byte aligned and half
// the head is a multiple of 8: the one-pair form spent its time on 64-bit index arithmetic and 2-byte
// accesses (3.0 ms per 2B eval batch of 4 x 2048, 0.9 TB/s on the H200). Indices are 32-bit
// (the launcher checks the count of groups fits).
constexpr int kPairs = 8;

struct Row {
  int64_t x, table, out;  // element offsets of the x row, the table row and the output row
};

// The cos and sin entries of pairs j..j+7 and their partners j+half..: c1, c2, s1, s2.
template <typename C>
__device__ __forceinline__ void load_tables(const C* __restrict__ cos, const C* __restrict__ sin, int64_t at,
                                            int64_t half, float (&c1)[kPairs], float (&c2)[kPairs],
                                            float (&s1)[kPairs], float (&s2)[kPairs]) {
  load_aligned<kPairs>(cos + at, c1);
  load_aligned<kPairs>(cos + at + half, c2);
  load_aligned<kPairs>(sin + at, s1);
  load_aligned<kPairs>(sin + at + half, s2);
}

__device__ __forceinline__ Row row_of(uint32_t group, const RopeShape& s, uint32_t groups_per_row, int64_t& j) {
  const uint32_t row = group / groups_per_row;
  j = int64_t(group - row * groups_per_row) * kPairs;
  const uint32_t tokens = uint32_t(s.tokens), heads = uint32_t(s.heads);
  const uint32_t rest = row / tokens, t = row - rest * tokens;
  const uint32_t b = rest / heads, h = rest - b * heads;
  return Row{b * s.x_batch + h * s.x_head + t * s.x_token, (s.table_batch ? b * s.table_batch : 0) + t * s.table_token,
             int64_t(row) * s.head_dim};
}

template <typename X, typename C, typename O>
__global__ void __launch_bounds__(kThreads)
rope_forward_packed(const X* __restrict__ x, const C* __restrict__ cos, const C* __restrict__ sin,
                    O* __restrict__ out, RopeShape s, uint32_t groups) {
  using P = Promoted<X, C>;
  const int64_t half = s.head_dim / 2;
  const uint32_t groups_per_row = uint32_t(half / kPairs);
  for (uint32_t group = blockIdx.x * kThreads + threadIdx.x; group < groups; group += gridDim.x * kThreads) {
    int64_t j;
    const Row r = row_of(group, s, groups_per_row, j);
    float x1[kPairs], x2[kPairs], c1[kPairs], c2[kPairs], s1[kPairs], s2[kPairs], o1[kPairs], o2[kPairs];
    load_aligned<kPairs>(x + r.x + j, x1);
    load_aligned<kPairs>(x + r.x + j + half, x2);
    load_tables(cos, sin, r.table + j, half, c1, c2, s1, s2);
#pragma unroll
    for (int k = 0; k < kPairs; ++k) {  // the one-pair kernel's roundings, exactly
      o1[k] = round_to<P>(__fadd_rn(round_to<P>(__fmul_rn(x1[k], c1[k])), round_to<P>(__fmul_rn(-x2[k], s1[k]))));
      o2[k] = round_to<P>(__fadd_rn(round_to<P>(__fmul_rn(x2[k], c2[k])), round_to<P>(__fmul_rn(x1[k], s2[k]))));
    }
    store_aligned<kPairs>(out + r.out + j, o1);
    store_aligned<kPairs>(out + r.out + j + half, o2);
  }
}

template <typename X, typename C, typename G>
__global__ void __launch_bounds__(kThreads)
rope_backward_packed(const G* __restrict__ grad_out, const C* __restrict__ cos,
                     const C* __restrict__ sin, X* __restrict__ grad_x, RopeShape s, uint32_t groups) {
  const int64_t half = s.head_dim / 2;
  const uint32_t groups_per_row = uint32_t(half / kPairs);
  for (uint32_t group = blockIdx.x * kThreads + threadIdx.x; group < groups; group += gridDim.x * kThreads) {
    int64_t j;
    const Row r = row_of(group, s, groups_per_row, j);  // grad_out contiguous, grad_x in x's strides
    float g1[kPairs], g2[kPairs], c1[kPairs], c2[kPairs], s1[kPairs], s2[kPairs], d1[kPairs], d2[kPairs];
    load_aligned<kPairs>(grad_out + r.out + j, g1);
    load_aligned<kPairs>(grad_out + r.out + j + half, g2);
    load_tables(cos, sin, r.table + j, half, c1, c2, s1, s2);
#pragma unroll
    for (int k = 0; k < kPairs; ++k) {
      d1[k] = __fadd_rn(round_to<X>(__fmul_rn(g1[k], c1[k])), round_to<X>(__fmul_rn(g2[k], s2[k])));
      d2[k] = __fadd_rn(round_to<X>(__fmul_rn(g2[k], c2[k])), -round_to<X>(__fmul_rn(g1[k], s1[k])));
    }
    store_aligned<kPairs>(grad_x + r.x + j, d1);
    store_aligned<kPairs>(grad_x + r.x + j + half, d2);
  }
}

// Groups of kPairs pairs when the packed kernels apply, else 0.
int64_t packed_groups(const RopeShape& s, std::initializer_list<const void*> buffers) {
  const int64_t half = s.head_dim / 2;
  const int64_t groups = s.batch * s.heads * s.tokens * (half / kPairs);
  bool ok = half % kPairs == 0 && groups < (int64_t(1) << 31);
  for (int64_t stride : {s.x_batch, s.x_head, s.x_token, s.table_batch, s.table_token}) ok = ok && stride % kPairs == 0;
  for (const void* p : buffers) ok = ok && aligned16(p);
  return ok ? groups : 0;
}

int64_t grid_for(const RopeShape& s) {
  const int64_t pairs = s.batch * s.heads * s.tokens * (s.head_dim / 2);
  return std::max<int64_t>(1, std::min<int64_t>((pairs + kThreads - 1) / kThreads, 132 * 32));
}

}  // namespace

int launch_rope_forward(Dtype x_dtype, Dtype table_dtype, const void* x, const void* cos, const void* sin, void* out,
                        const RopeShape& shape, void* stream, bool bf16_out) {
  if (shape.head_dim % 2 != 0) return int(cudaErrorInvalidValue);
  return dispatch(x_dtype, [&](auto xz) {
    using X = decltype(xz);
    return dispatch(table_dtype, [&](auto cz) {
      using C = decltype(cz);
      auto launch = [&](auto oz) {
        using O = decltype(oz);
        if (const int64_t groups = packed_groups(shape, {x, cos, sin, out})) {
          rope_forward_packed<X, C, O><<<std::min<int64_t>((groups + kThreads - 1) / kThreads, 132 * 32), kThreads,
                                         0, static_cast<cudaStream_t>(stream)>>>(
              static_cast<const X*>(x), static_cast<const C*>(cos), static_cast<const C*>(sin), static_cast<O*>(out),
              shape, uint32_t(groups));
          return int(cudaGetLastError());
        }
        rope_forward<X, C, O><<<grid_for(shape), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
            static_cast<const X*>(x), static_cast<const C*>(cos), static_cast<const C*>(sin), static_cast<O*>(out),
            shape);
        return int(cudaGetLastError());
      };
      return bf16_out ? launch(__nv_bfloat16{}) : launch(Promoted<X, C>{});
    });
  });
}

int launch_rope_backward(Dtype x_dtype, Dtype table_dtype, const void* grad_out, const void* cos, const void* sin,
                         void* grad_x, const RopeShape& shape, void* stream, bool bf16_grad) {
  if (shape.head_dim % 2 != 0) return int(cudaErrorInvalidValue);
  return dispatch(x_dtype, [&](auto xz) {
    using X = decltype(xz);
    return dispatch(table_dtype, [&](auto cz) {
      using C = decltype(cz);
      auto launch = [&](auto gz) {
        using G = decltype(gz);
        if (const int64_t groups = packed_groups(shape, {grad_out, cos, sin, grad_x})) {
          rope_backward_packed<X, C, G><<<std::min<int64_t>((groups + kThreads - 1) / kThreads, 132 * 32), kThreads,
                                          0, static_cast<cudaStream_t>(stream)>>>(
              static_cast<const G*>(grad_out), static_cast<const C*>(cos), static_cast<const C*>(sin),
              static_cast<X*>(grad_x), shape, uint32_t(groups));
          return int(cudaGetLastError());
        }
        rope_backward<X, C, G><<<grid_for(shape), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
            static_cast<const G*>(grad_out), static_cast<const C*>(cos), static_cast<const C*>(sin),
            static_cast<X*>(grad_x), shape);
        return int(cudaGetLastError());
      };
      return bf16_grad ? launch(__nv_bfloat16{}) : launch(Promoted<X, C>{});
    });
  });
}

}  // namespace matquant::kernels
