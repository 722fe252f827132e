// The gated FFN activation act(gate) * up (GeGLU with tanh-approximate GELU for Gemma, SwiGLU for
// Llama-style models) in one pass forward and one backward, where the composed path runs the
// activation, the product and, backward, two products and the activation's derivative: five
// kernels and three saved [tokens, intermediate] tensors, against two kernels and two tensors.
// The maths follows ATen's CUDA kernels (GeluCUDAKernelImpl / GeluBackwardCUDAKernelImpl with
// approximate = tanh, silu / silu_backward) in fp32, and every intermediate the composed path
// stores in T is rounded to T here too, so results agree with it to within T's rounding.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

constexpr float kBeta = 0.7978845608028654f;  // sqrt(2 / pi) = M_SQRT2 * M_2_SQRTPI * 0.5
constexpr float kKappa = 0.044715f;

__device__ __forceinline__ float activation(float x, bool gelu) {
  if (gelu) {
    const float inner = kBeta * (x + kKappa * (x * x * x));
    return 0.5f * x * (1.0f + tanhf(inner));
  }
  return x / (1.0f + expf(-x));
}

__device__ __forceinline__ float activation_derivative(float dy, float x, bool gelu) {
  if (gelu) {
    const float x_sq = x * x;
    const float inner = kBeta * (x + kKappa * (x_sq * x));
    const float tanh_inner = tanhf(inner);
    const float left = 0.5f * x;
    const float right = 1.0f + tanh_inner;
    const float left_derivative = 0.5f * right;
    const float tanh_derivative = 1.0f - tanh_inner * tanh_inner;
    const float inner_derivative = kBeta * (1.0f + 3.0f * kKappa * x_sq);
    return dy * (left_derivative + left * tanh_derivative * inner_derivative);
  }
  const float sigmoid = 1.0f / (1.0f + expf(-x));
  return dy * sigmoid * (1.0f + x * (1.0f - sigmoid));
}

// Elements [first, first + kPack) of each tensor as one 16-byte load when the launcher found the
// buffers aligned, else one by one.
template <typename T>
struct alignas(16) Packed {  // read and written as one uint4
  static constexpr int kPack = 16 / sizeof(T);
  T v[kPack];
};

template <typename T>
__device__ __forceinline__ Packed<T> load(const T* __restrict__ p, int64_t first, int64_t n, bool vector) {
  Packed<T> out;
  if (vector) {
    *reinterpret_cast<uint4*>(out.v) = *reinterpret_cast<const uint4*>(p + first);
  } else {
#pragma unroll
    for (int k = 0; k < Packed<T>::kPack; ++k) out.v[k] = first + k < n ? p[first + k] : T{};
  }
  return out;
}

template <typename T>
__device__ __forceinline__ void store(T* __restrict__ p, const Packed<T>& values, int64_t first, int64_t n, bool vector) {
  if (vector) {
    *reinterpret_cast<uint4*>(p + first) = *reinterpret_cast<const uint4*>(values.v);
  } else {
#pragma unroll
    for (int k = 0; k < Packed<T>::kPack; ++k) {
      if (first + k < n) p[first + k] = values.v[k];
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
gated_forward(const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ out, int64_t n, bool gelu,
              bool vector) {
  constexpr int kPack = Packed<T>::kPack;
  for (int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * kPack; first < n;
       first += int64_t(gridDim.x) * kThreads * kPack) {
    const Packed<T> g = load(gate, first, n, vector), u = load(up, first, n, vector);
    Packed<T> o;
#pragma unroll
    for (int k = 0; k < kPack; ++k) {
      const float a = round_to<T>(activation(to_float(g.v[k]), gelu));  // the composed path stores act(gate) in T
      o.v[k] = from_float<T>(a * to_float(u.v[k]));
    }
    store(out, o, first, n, vector);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
gated_backward(const T* __restrict__ grad_out, const T* __restrict__ gate, const T* __restrict__ up,
               T* __restrict__ grad_gate, T* __restrict__ grad_up, int64_t n, bool gelu, bool vector) {
  constexpr int kPack = Packed<T>::kPack;
  for (int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * kPack; first < n;
       first += int64_t(gridDim.x) * kThreads * kPack) {
    const Packed<T> dy = load(grad_out, first, n, vector), g = load(gate, first, n, vector),
                    u = load(up, first, n, vector);
    Packed<T> dg, du;
#pragma unroll
    for (int k = 0; k < kPack; ++k) {
      const float x = to_float(g.v[k]), d = to_float(dy.v[k]);
      const float a = round_to<T>(activation(x, gelu));
      du.v[k] = from_float<T>(d * a);
      const float d_activation = round_to<T>(d * to_float(u.v[k]));  // the product's gradient, stored in T
      dg.v[k] = from_float<T>(activation_derivative(d_activation, x, gelu));
    }
    store(grad_gate, dg, first, n, vector);
    store(grad_up, du, first, n, vector);
  }
}

int64_t grid_for(int64_t n, int pack) {
  const int64_t threads = (n + pack - 1) / pack;
  return std::max<int64_t>(1, std::min<int64_t>((threads + kThreads - 1) / kThreads, 132 * 16));
}

}  // namespace

int launch_gated_activation_forward(Dtype dtype, const void* gate, const void* up, void* out, int64_t n, bool gelu,
                                    void* stream) {
  if (n == 0) return 0;
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    constexpr int kPack = Packed<T>::kPack;
    const bool vector = n % kPack == 0 && aligned16(gate) && aligned16(up) && aligned16(out);
    gated_forward<T><<<grid_for(n, kPack), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<T*>(out), n, gelu, vector);
    return int(cudaGetLastError());
  });
}

int launch_gated_activation_backward(Dtype dtype, const void* grad_out, const void* gate, const void* up,
                                     void* grad_gate, void* grad_up, int64_t n, bool gelu, void* stream) {
  if (n == 0) return 0;
  return dispatch(dtype, [&](auto z) {
    using T = decltype(z);
    constexpr int kPack = Packed<T>::kPack;
    const bool vector = n % kPack == 0 && aligned16(grad_out) && aligned16(gate) && aligned16(up) &&
                        aligned16(grad_gate) && aligned16(grad_up);
    gated_backward<T><<<grid_for(n, kPack), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(grad_out), static_cast<const T*>(gate), static_cast<const T*>(up),
        static_cast<T*>(grad_gate), static_cast<T*>(grad_up), n, gelu, vector);
    return int(cudaGetLastError());
  });
}

}  // namespace matquant::kernels
