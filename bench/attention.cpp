// One layer's softcapped, causal attention at a real shape (forward, no gradient, as scoring and
// prefill run it), three ways in one process:
//   kernel    model::attend on the one-kernel path (lib/kernels/softcapped_attention.cu);
//   matmuls   model::attend with that kernel switched off: batched matmuls around the fused
//             softcapped softmax, the path it replaces;
//   eager     the fused kernels off: the composed ATen form (transformers' eager attention);
// and, as a speed ceiling only, at::scaled_dot_product_attention (causal, no softcap, which PyTorch
// serves with FlashAttention-2): the fastest attention a PyTorch user has, without Gemma-2's cap.
// TFLOP/s count the causal half: 2 * 2 * B * H * D * T (T + 1) / 2.
//   matquant_bench_attention --shape gemma2-2b-shape,gemma2-9b-shape --batch 4 --seq 2048
#include "bench/bench_common.h"
#include "kernels/fused_ops.h"
#include "model/attention.h"

#include <boost/algorithm/string.hpp>
#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <cmath>

namespace po = boost::program_options;
using namespace matquant;

namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

}  // namespace

int run(int argc, char** argv) {
  std::string shapes = "gemma2-2b-shape,gemma2-9b-shape", device = "cuda";
  int64_t batch = 4, seq = 2048, iterations = 20;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shapes)->default_value(shapes), "comma-separated built-in shapes with a softcap")
      ("batch", po::value(&batch)->default_value(batch), "sequences")
      ("seq", po::value(&seq)->default_value(seq), "tokens per sequence (queries = keys)")
      ("iterations", po::value(&iterations)->default_value(iterations), "timed calls per figure (after 2 warm-up)")
      ("device", po::value(&device)->default_value(device), "cuda (the kernel needs a GPU)");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const at::Device dev(device);
  if (!dev.is_cuda()) throw std::runtime_error("matquant_bench_attention measures CUDA kernels: --device cuda");
  at::NoGradGuard no_grad;
  nlohmann::json figures;
  fmt::print("{:<18}{:>22}{:>11}{:>11}{:>11}{:>11}{:>9}{:>9}{:>9}{:>10}{:>10}\n", "shape", "[B, H/KVH, T, D]",
             "kernel ms", "matmul ms", "eager ms", "sdpa ms", "TFLOP/s", "vs mm", "vs eag", "vs sdpa", "max diff");
  std::vector<std::string> names;
  boost::split(names, shapes, boost::is_any_of(","));
  for (const std::string& shape : names) {
    const model::ModelConfig c = model::parse_config(bench::shape_config(shape, 1), shape);
    if (!c.attn_logit_softcapping) throw std::runtime_error(shape + " has no attention softcap");
    const int64_t h = c.num_attention_heads, kvh = c.num_key_value_heads, d = c.head_dim;
    const auto options_bf16 = at::TensorOptions().device(dev).dtype(at::kBFloat16);
    // The decoder's layouts: q and k contiguous after RoPE, v a transposed projection.
    const at::Tensor q = at::randn({batch, h, seq, d}, options_bf16) * 2.0;
    const at::Tensor k = at::randn({batch, kvh, seq, d}, options_bf16) * 2.0;
    const at::Tensor v = at::randn({batch, seq, kvh, d}, options_bf16).transpose(1, 2);
    const at::Tensor positions = at::arange(seq, at::TensorOptions().device(dev).dtype(at::kLong));
    const at::Tensor mask = positions.view({1, seq}).le(positions.view({seq, 1})).view({1, 1, seq, seq});
    const bool previous = kernels::set_softcapped_attention_kernel(true);
    if (!kernels::softcapped_attention_applies(q, k, v)) {
      throw std::runtime_error("the attention kernel does not take these operands (not built, or not this GPU)");
    }
    const at::Tensor out_kernel = model::attend(q, k, v, mask, c);
    const double kernel_ms = bench::mean_ms_per_call([&] { return model::attend(q, k, v, mask, c); }, iterations, dev);
    kernels::set_softcapped_attention_kernel(false);
    const at::Tensor out_matmul = model::attend(q, k, v, mask, c);
    const double matmul_ms = bench::mean_ms_per_call([&] { return model::attend(q, k, v, mask, c); }, iterations, dev);
    kernels::set_softcapped_attention_kernel(previous);
    const bool fused = kernels::set_fused_kernels(false);
    const double eager_ms = bench::mean_ms_per_call([&] { return model::attend(q, k, v, mask, c); }, iterations, dev);
    kernels::set_fused_kernels(fused);
    const double sdpa_ms = bench::mean_ms_per_call(
        [&] {
          return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, c.attention_scale,
                                                  /*enable_gqa=*/kvh != h);
        },
        iterations, dev);
    const double flops = 4.0 * double(batch * h * d) * double(seq) * double(seq + 1) / 2.0;
    const double tflops = flops / (kernel_ms * 1e-3) / 1e12;
    const double diff = max_abs_diff(out_kernel, out_matmul);
    fmt::print("{:<18}{:>22}{:>11.3f}{:>11.3f}{:>11.3f}{:>11.3f}{:>9.1f}{:>8.2f}x{:>8.2f}x{:>9.2f}x{:>10.2g}\n", shape,
               fmt::format("[{}, {}/{}, {}, {}]", batch, h, kvh, seq, d), kernel_ms, matmul_ms, eager_ms, sdpa_ms,
               tflops, matmul_ms / kernel_ms, eager_ms / kernel_ms, sdpa_ms / kernel_ms, diff);
    figures[shape] = {{"kernel_ms", kernel_ms}, {"matmul_softmax_ms", matmul_ms}, {"eager_ms", eager_ms},
                      {"sdpa_no_cap_ms", sdpa_ms}, {"kernel_tflops", tflops},
                      {"speedup_vs_matmul_softmax", matmul_ms / kernel_ms}, {"speedup_vs_eager", eager_ms / kernel_ms},
                      {"speedup_vs_sdpa_no_cap", sdpa_ms / kernel_ms}, {"max_abs_diff_vs_matmul_softmax", diff}};
  }
  bench::print_json_line("attention", {{"shape", shapes}, {"batch", batch}, {"seq", seq}, {"iterations", iterations}},
                         figures);
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_attention", [&] { return run(argc, argv); });
}
