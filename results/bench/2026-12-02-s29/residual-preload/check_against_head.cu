// New residual_rms_norm_block_rows against HEAD's, bit for bit, and their graph-replayed time.
#include "kernels/launchers.h"
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>
namespace matquant_head::kernels {
enum class Dtype { kFloat32, kBFloat16 };
int launch_residual_rms_norm(Dtype dtype, Dtype weight_dtype, const void* h, const void* branch, const void* post_weight,
                             const void* next_weight, void* h_out, void* normed, int64_t rows, int64_t width, float eps,
                             bool adds_one, void* stream);
}
#define CHECK(call) do { cudaError_t err_ = (call); if (err_ != cudaSuccess) { std::printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(err_)); std::exit(1); } } while (0)
double graph_us(cudaStream_t stream, const std::function<void(int)>& fn) {
  for (int i = 0; i < 4; ++i) fn(i);
  CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph; cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < 200; ++i) fn(i);
  CHECK(cudaStreamEndCapture(stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t b, e; CHECK(cudaEventCreate(&b)); CHECK(cudaEventCreate(&e));
  float ms = 0;
  for (int r = 0; r < 3; ++r) { CHECK(cudaEventRecord(b, stream)); CHECK(cudaGraphLaunch(exec, stream)); CHECK(cudaEventRecord(e, stream)); CHECK(cudaStreamSynchronize(stream)); CHECK(cudaEventElapsedTime(&ms, b, e)); }
  return 1000.0 * ms / 200;
}
int main() {
  cudaStream_t stream; CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::mt19937 rng(3); std::normal_distribution<float> nd;
  int cases = 0, equal = 0;
  for (int width : {2304, 3584, 4096, 1024, 8}) for (int rows : {1, 5, 16}) for (int post : {0, 1}) for (int next : {0, 1}) for (int one : {0, 1}) {
    size_t n = size_t(rows) * width;
    std::vector<__nv_bfloat16> hh(n), hb(n), hw1(width), hw2(width);
    for (auto& v : hh) v = __float2bfloat16(nd(rng) * 4);
    for (auto& v : hb) v = __float2bfloat16(nd(rng) * (rng() % 50 == 0 ? 300.0f : 1.0f));
    for (auto& v : hw1) v = __float2bfloat16(nd(rng));
    for (auto& v : hw2) v = __float2bfloat16(nd(rng));
    __nv_bfloat16 *h, *b, *w1, *w2, *o[2], *m[2];
    CHECK(cudaMalloc(&h, n * 2)); CHECK(cudaMalloc(&b, n * 2)); CHECK(cudaMalloc(&w1, width * 2)); CHECK(cudaMalloc(&w2, width * 2));
    for (int i = 0; i < 2; ++i) { CHECK(cudaMalloc(&o[i], n * 2)); CHECK(cudaMalloc(&m[i], n * 2)); CHECK(cudaMemset(o[i], 0, n * 2)); CHECK(cudaMemset(m[i], 0, n * 2)); }
    CHECK(cudaMemcpy(h, hh.data(), n * 2, cudaMemcpyHostToDevice)); CHECK(cudaMemcpy(b, hb.data(), n * 2, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(w1, hw1.data(), width * 2, cudaMemcpyHostToDevice)); CHECK(cudaMemcpy(w2, hw2.data(), width * 2, cudaMemcpyHostToDevice));
    const void* pw = post ? w1 : nullptr; const void* nw = next ? w2 : nullptr;
    CHECK(cudaError_t(matquant::kernels::launch_residual_rms_norm(matquant::kernels::Dtype::kBFloat16, matquant::kernels::Dtype::kBFloat16, h, b, pw, nw, o[0], next ? m[0] : nullptr, rows, width, 1e-6f, one, stream)));
    CHECK(cudaError_t(matquant_head::kernels::launch_residual_rms_norm(matquant_head::kernels::Dtype::kBFloat16, matquant_head::kernels::Dtype::kBFloat16, h, b, pw, nw, o[1], next ? m[1] : nullptr, rows, width, 1e-6f, one, stream)));
    CHECK(cudaStreamSynchronize(stream));
    std::vector<__nv_bfloat16> r[4] = {std::vector<__nv_bfloat16>(n), std::vector<__nv_bfloat16>(n), std::vector<__nv_bfloat16>(n), std::vector<__nv_bfloat16>(n)};
    CHECK(cudaMemcpy(r[0].data(), o[0], n * 2, cudaMemcpyDeviceToHost)); CHECK(cudaMemcpy(r[1].data(), o[1], n * 2, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(r[2].data(), m[0], n * 2, cudaMemcpyDeviceToHost)); CHECK(cudaMemcpy(r[3].data(), m[1], n * 2, cudaMemcpyDeviceToHost));
    ++cases;
    bool eq = std::memcmp(r[0].data(), r[1].data(), n * 2) == 0 && std::memcmp(r[2].data(), r[3].data(), n * 2) == 0;
    if (eq) ++equal; else std::printf("DIFFER width %d rows %d post %d next %d adds_one %d\n", width, rows, post, next, one);
    if (post && next && one && (rows == 1 || rows == 16) && width >= 2304) {
      auto t = [&](bool fresh) { return graph_us(stream, [&](int) {
        if (fresh) matquant::kernels::launch_residual_rms_norm(matquant::kernels::Dtype::kBFloat16, matquant::kernels::Dtype::kBFloat16, h, b, w1, w2, o[0], m[0], rows, width, 1e-6f, true, stream);
        else matquant_head::kernels::launch_residual_rms_norm(matquant_head::kernels::Dtype::kBFloat16, matquant_head::kernels::Dtype::kBFloat16, h, b, w1, w2, o[1], m[1], rows, width, 1e-6f, true, stream); }); };
      const double before = t(false), after = t(true), before2 = t(false);
      std::printf("width %d rows %d: HEAD %.2f / %.2f us, new %.2f us per call (%.2fx)\n", width, rows, before, before2, after, before / after);
    }
    for (auto* p : {h, b, w1, w2, o[0], o[1], m[0], m[1]}) CHECK(cudaFree(p));
  }
  std::printf("bit for bit equal to HEAD's kernel: %d of %d cases\n", equal, cases);
  return equal == cases ? 0 : 1;
}
