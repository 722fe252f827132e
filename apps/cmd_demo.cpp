// `matquant demo`: the quantization core end to end on one synthetic linear layer.
// Baseline (clipping learned for int8 only) versus MatQuant (R = {8, 4, 2}), then every r-bit
// slice of each nested int8 code store, including interpolated int6/int3 and Extra-Precision.
#include "command_registry.h"

#include "quant/extra_bucket_accounting.h"
#include "quant/layer_reconstruction.h"
#include "quant/nested_codes.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

struct DemoOptions {
  int64_t out_features = 256;
  int64_t in_features = 256;
  int64_t samples = 512;
  int steps = 100;
  uint64_t seed = 0;
  std::string device = "cpu";
};

// Heavy-tailed weights (a few large outliers), as real LLM FFN weights have.
at::Tensor synthetic_weight(const DemoOptions& o, const at::TensorOptions& t) {
  at::Tensor w = at::randn({o.out_features, o.in_features}, t) * 0.02;
  at::Tensor outliers = at::rand({o.out_features, o.in_features}, t).lt(0.002);
  return at::where(outliers, w * 8.0, w);
}

int run_demo(const Args& args) {
  DemoOptions o;
  po::options_description options("options");
  options.add_options()
      ("out", po::value(&o.out_features)->default_value(o.out_features), "output features")
      ("in", po::value(&o.in_features)->default_value(o.in_features), "input features")
      ("samples", po::value(&o.samples)->default_value(o.samples), "calibration inputs")
      ("steps", po::value(&o.steps)->default_value(o.steps), "AdamW steps per method")
      ("seed", po::value(&o.seed)->default_value(o.seed), "random seed")
      ("device", po::value(&o.device)->default_value(o.device), "cpu or cuda");
  po::variables_map vm;
  if (!parse_command_line("demo", "[options]", options, {}, args, vm)) return 0;

  const auto start = std::chrono::steady_clock::now();
  at::manual_seed(o.seed);
  const at::TensorOptions t = at::TensorOptions().dtype(at::kFloat).device(at::Device(o.device));
  const at::Tensor weight = synthetic_weight(o, t);
  const at::Tensor inputs = at::randn({o.samples, o.in_features}, t);

  fmt::print("layer {}x{}, {} calibration inputs, {} steps, device {}\n", o.out_features,
             o.in_features, o.samples, o.steps, o.device);
  struct Method {
    std::string name;
    quant::ReconstructionConfig config;
  };
  std::vector<Method> methods(2);
  methods[0].name = "baseline int8";
  methods[0].config.bits = {8};
  methods[0].config.lambdas = {1.0};
  methods[1].name = "MatQuant {8,4,2}";
  methods[1].config.lambdas = {0.1, 0.1, 1.0};  // the paper's Gemma weights (lambda8, lambda4, lambda2)
  for (auto& m : methods) m.config.steps = o.steps;

  fmt::print("\nrelative output error ||X(W - W_r)^T||^2 / ||XW^T||^2 (lower is better)\n");
  fmt::print("{:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>16}\n", "method", "int8", "int6", "int4",
             "int3", "int2", "int2 (E.P.)");
  for (const auto& m : methods) {
    auto result = quant::reconstruct_layer(weight, inputs, m.config);
    const auto grouped = quant::to_groups(weight, 0);
    const auto codes = quant::NestedCodes::quantize(weight, 8, 0, result.clipping->params(grouped, 8));
    fmt::print("{:<18}", m.name);
    for (int r : {8, 6, 4, 3, 2}) {
      fmt::print("{:>10.3g}", quant::relative_output_error(weight, codes.dequantize(r), inputs));
    }
    const auto ep = codes.dequantize(2, quant::SliceMode::kExtraPrecision);
    const auto stats = quant::extra_bucket_stats(codes.codes, 8, 2);
    fmt::print("{:>9.3g} @{:.3f}b\n", quant::relative_output_error(weight, ep, inputs),
               quant::effective_bits(stats));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("\ndone in {:.1f} s\n", seconds);
  return 0;
}

const RegisterCommand kRegister{
    {"demo", "tiny end-to-end demo of the quantization core on one layer", &run_demo}};

}  // namespace
}  // namespace matquant::apps
