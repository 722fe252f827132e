// Fused cross-entropy over softcapped logits (Gemma-2's final cap): one read of the raw [rows,
// vocab] logits forward and one read + one write backward, where eager runs the cap, the fp32
// upcast and log_softmax as separate passes over the 256k-wide rows.
#include "kernels/kernel_common.cuh"

namespace matquant::kernels {
namespace {

template <typename T>
__device__ __forceinline__ float capped_logit(T l, float cap) { return softcap<T>(to_float(l), cap); }

__device__ __forceinline__ bool valid_target(int64_t target, int64_t vocab, int64_t ignore_index) {
  return target != ignore_index && target >= 0 && target < vocab;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
cross_entropy_forward(const T* __restrict__ logits, const int64_t* __restrict__ targets, float* __restrict__ loss,
                      float* __restrict__ lse, int64_t vocab, float cap,
                      int64_t ignore_index) {
  const int64_t row = blockIdx.x;
  const T* in = logits + row * vocab;
  MaxSum acc{-INFINITY, 0.0f};
  for_each_in_row(in, vocab, [&](int64_t, T value) { add_value(acc, capped_logit(value, cap)); });
  const MaxSum total = block_reduce(acc, Combine{});
  if (threadIdx.x == 0) {
    const float row_lse = total.m + logf(total.s);
    const int64_t target = targets[row];
    lse[row] = row_lse;
    loss[row] = valid_target(target, vocab, ignore_index) ? row_lse - capped_logit(in[target], cap) : 0.0f;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
cross_entropy_backward(const T* __restrict__ logits, const int64_t* __restrict__ targets,
                       const float* __restrict__ lse, const float* __restrict__ grad_loss,
                       T* __restrict__ grad_logits, int64_t vocab, float cap, int64_t ignore_index) {
  const int64_t row = blockIdx.x;
  const T* in = logits + row * vocab;
  T* out = grad_logits + row * vocab;
  const int64_t target = targets[row];
  const bool valid = valid_target(target, vocab, ignore_index);
  const float g = valid ? grad_loss[row] : 0.0f;
  const float row_lse = lse[row];
  map_row(in, out, vocab, [&](int64_t j, T value) {
    if (!valid) return 0.0f;
    const float x = capped_logit(value, cap);
    float d = __expf(x - row_lse) - (j == target ? 1.0f : 0.0f);
    if (cap > 0.0f) {
      // tanh; for bf16 logits the fast division, as softcap<bf16> (kernel_common.cuh) takes, whose
      // 2 ulp could put |t| a hair above 1.
      const float t = std::is_same_v<T, __nv_bfloat16> ? __fdividef(x, cap) : x / cap;
      d *= fmaxf(0.0f, 1.0f - t * t);
    }
    return d * g;
  });
}

}  // namespace

int launch_softcapped_cross_entropy_forward(Dtype dtype, const void* logits, const int64_t* targets, float* loss,
                                            float* lse, int64_t rows, int64_t vocab, float cap, int64_t ignore_index,
                                            void* stream) {
  return dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    cross_entropy_forward<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(logits), targets, loss, lse, vocab, cap, ignore_index);
    return int(cudaGetLastError());
  });
}

int launch_softcapped_cross_entropy_backward(Dtype dtype, const void* logits, const int64_t* targets,
                                             const float* lse, const float* grad_loss, void* grad_logits,
                                             int64_t rows, int64_t vocab, float cap, int64_t ignore_index,
                                             void* stream) {
  return dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    cross_entropy_backward<T><<<rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(logits), targets, lse, grad_loss, static_cast<T*>(grad_logits), vocab, cap,
        ignore_index);
    return int(cudaGetLastError());
  });
}

}  // namespace matquant::kernels
