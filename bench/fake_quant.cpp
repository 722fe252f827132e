// The fake-quantize-and-slice op of QAT (MinMax per output channel to c = 8 bits, slice to r with
// Eq. 6, dequantize; straight-through backward) on the weight shapes of one decoder block of a real
// model: our path (QuantizedLinear::effective_weight, what the trainer calls, i.e.
// quant::fake_quantize) against the same maths written here as plain ATen ops, forward and
// forward + backward, in ms and GB/s against the device's memory bandwidth.
// Bytes counted (ideal, one pass): forward reads W and writes W_hat (2 x elem bytes per weight);
// backward reads dW_hat and W (the clamp mask) and writes dW (3 x elem bytes); fwd+bwd = 5 x.
//   matquant_bench_fake_quant --shape gemma2-9b-shape --device cuda
#include "bench/bench_common.h"
#include "model/quantized_linear.h"

#include "bench_common.h"

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

namespace po = boost::program_options;
using namespace matquant;

namespace {

// The same maths as plain ATen ops: Eq. 1 MinMax (range detached), STE rounding, Eq. 6 slice (STE).
at::Tensor plain_fake_quant(const at::Tensor& weight, int bits) {
  const at::Tensor w = weight.to(at::kFloat);
  at::Tensor scale, zero;
  {
    at::NoGradGuard no_grad;
    const at::Tensor xmin = std::get<0>(w.min(1, true));
    const at::Tensor xmax = std::get<0>(w.max(1, true));
    scale = ((xmax - xmin) / 255.0).clamp(1e-5, 1e4);
    zero = (-xmin / scale).clamp(-1e4, 1e4).round();
  }
  const at::Tensor x = w / scale;
  at::Tensor codes = (x + (x.round() - x).detach() + zero).clamp(0.0, 255.0);
  if (bits < 8) {
    const double step = double(1 << (8 - bits));
    const at::Tensor sliced = ((codes.detach() / step + 0.5).floor().clamp(0.0, double((1 << bits) - 1))) * step;
    codes = (sliced - codes).detach() + codes;
  }
  return ((codes - zero) * scale).to(weight.scalar_type());
}

}  // namespace

int run(int argc, char** argv) {
  std::string shape = "gemma2-9b-shape", device = "cuda", dtype = "fp32";
  int64_t iterations = 20;
  double bandwidth_gbps = 3350.0;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shape)->default_value(shape), "built-in shape whose block's weight shapes are used")
      ("dtype", po::value(&dtype)->default_value(dtype), "fp32 (QAT master weights) or bf16 weights")
      ("iterations", po::value(&iterations)->default_value(iterations), "timed calls per figure (after 2 warm-up)")
      ("bandwidth-gbps", po::value(&bandwidth_gbps)->default_value(bandwidth_gbps),
       "memory bandwidth for the fraction (H100 SXM 3350; H200 4800)")
      ("device", po::value(&device)->default_value(device), "cuda or cpu");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const at::Device dev(device);
  const at::ScalarType type = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const double elem = dtype == "bf16" ? 2.0 : 4.0;
  const model::ModelConfig c = model::parse_config(bench::shape_config(shape, 1), shape);
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const std::vector<std::tuple<std::string, int64_t, int64_t>> matrices = {
      {"gate/up", c.intermediate_size, h}, {"down", h, c.intermediate_size},
      {"q", q, h}, {"k/v", kv, h}, {"o", h, q}};
  fmt::print("Fake-quantize-and-slice (c = 8 -> r, dequantize, STE backward), {} block weights, {} on {}, "
             "{} iterations; GB/s = ideal bytes (fwd 2, fwd+bwd 5 x {} B per weight) / time, against {} GB/s\n",
             shape, dtype, device, iterations, elem, bandwidth_gbps);
  fmt::print("{:<9}{:>14}{:>3}{:>11}{:>11}{:>8}{:>9}{:>7}{:>12}{:>12}{:>8}{:>9}{:>7}{:>10}\n", "matrix", "[out, in]",
             "r", "fwd ms", "plain ms", "ratio", "GB/s", "%bw", "f+b ms", "plain ms", "ratio", "GB/s", "%bw",
             "max|diff|");
  nlohmann::json figures = nlohmann::json::object();
  double log_fwd_ratio = 0.0, log_fb_ratio = 0.0;
  int count = 0;
  for (const auto& [name, out, in] : matrices) {
    at::manual_seed(0);
    const at::Tensor w0 = (at::randn({out, in}) * 0.02).to(dev, type);
    model::QuantizedLinear linear(in, out, false);
    linear->weight.set_data(w0.clone());
    linear->enable_quantizer(model::QuantizerConfig{});
    const at::Tensor plain_w = w0.clone().set_requires_grad(true);
    const at::Tensor grad = at::randn({out, in}, w0.options());
    for (int r : {8, 4, 2}) {
      linear->set_precision(r);
      double diff = 0.0;
      {
        at::NoGradGuard no_grad;
        diff = (linear->effective_weight().to(at::kFloat) - plain_fake_quant(plain_w, r).to(at::kFloat))
                   .abs().max().item<double>();
      }
      const double fwd = bench::mean_ms_per_call([&] { at::NoGradGuard g; linear->effective_weight(); }, iterations, dev);
      const double fwd_plain = bench::mean_ms_per_call([&] { at::NoGradGuard g; plain_fake_quant(plain_w, r); }, iterations, dev);
      const double fb = bench::mean_ms_per_call([&] {
        torch::autograd::grad({linear->effective_weight()}, {linear->weight}, {grad});
      }, iterations, dev);
      const double fb_plain = bench::mean_ms_per_call([&] {
        torch::autograd::grad({plain_fake_quant(plain_w, r)}, {plain_w}, {grad});
      }, iterations, dev);
      const double n = double(out * in);
      const double fwd_gbps = 2.0 * elem * n / (fwd * 1e-3) / 1e9;
      const double fb_gbps = 5.0 * elem * n / (fb * 1e-3) / 1e9;
      fmt::print("{:<9}{:>14}{:>3}{:>11.3f}{:>11.3f}{:>8.2f}{:>9.0f}{:>6.1f}%{:>12.3f}{:>12.3f}{:>8.2f}{:>9.0f}{:>6.1f}%{:>10.2g}\n",
                 name, fmt::format("[{}, {}]", out, in), r, fwd, fwd_plain, fwd / fwd_plain, fwd_gbps,
                 100.0 * fwd_gbps / bandwidth_gbps, fb, fb_plain, fb / fb_plain, fb_gbps,
                 100.0 * fb_gbps / bandwidth_gbps, diff);
      figures[fmt::format("{}_r{}", name, r)] = {
          {"out", out}, {"in", in}, {"fwd_ms", fwd}, {"fwd_ms_plain", fwd_plain}, {"fwd_gbps", fwd_gbps},
          {"fwdbwd_ms", fb}, {"fwdbwd_ms_plain", fb_plain}, {"fwdbwd_gbps", fb_gbps}, {"max_abs_diff", diff}};
      log_fwd_ratio += std::log(fwd / fwd_plain);
      log_fb_ratio += std::log(fb / fb_plain);
      ++count;
    }
  }
  const double fwd_ratio = std::exp(log_fwd_ratio / count), fb_ratio = std::exp(log_fb_ratio / count);
  fmt::print("geometric mean time ratio ours / plain ATen: forward {:.2f}x, forward+backward {:.2f}x\n", fwd_ratio,
             fb_ratio);
  figures["fwd_time_ratio_geomean"] = fwd_ratio;
  figures["fwdbwd_time_ratio_geomean"] = fb_ratio;
  bench::print_json_line("fake_quant",
                         {{"shape", shape}, {"dtype", dtype}, {"device", device}, {"iterations", iterations},
                          {"bandwidth_gbps", bandwidth_gbps}},
                         figures);
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_fake_quant", [&] { return run(argc, argv); });
}
