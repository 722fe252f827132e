// GPTQ at a real shape (random weights), two figures:
//   layer:  one decoder layer's projections quantized by gptq_quantize, with Hessians of random inputs,
//           the figure bench/reference/gptq_layer.py measures for llm-compressor (run both with
//           bench/run_gptq_layer.sh, which prints the ratio);
//   model:  with --model, calibrate_gptq over the whole model (every block, --samples x --seq tokens):
//           wall time, peak device memory and the per-block split into Hessian pass and GPTQ.
//   matquant_bench_gptq --shape mistral-7b-shape --bits 4 --device cuda [--model --samples 128 --seq 2048]
#include "common/device_memory.h"
#include "model/initialization.h"
#include "quant/gptq.h"
#include "train/gptq_calibration.h"

#include "bench_common.h"

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace po = boost::program_options;
using namespace matquant;

namespace {

// The stacked groups calibrate_gptq quantizes: projections reading one input share a Hessian.
std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> layer_groups(const model::ModelConfig& c) {
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  return {{"qkv", {q + 2 * kv, h}}, {"o", {h, q}}, {"gate_up", {2 * c.intermediate_size, h}}, {"down", {h, c.intermediate_size}}};
}

int run(int argc, char** argv) {
  std::string shape = "mistral-7b-shape", device = "cuda";
  int64_t bits = 4, group = 0, block = 128, tokens = 4096, repeats = 2, layers = 0, samples = 128, seq = 2048, batch = 4, mx_block = 0;
  std::vector<int> nested_bits;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shape)->default_value(shape), "built-in shape name")
      ("bits", po::value(&bits)->default_value(bits), "code width c (plain GPTQ at c bits)")
      ("nested", po::value(&nested_bits)->multitoken(), "precisions of a nested GPTQ (e.g. 8 4 2; lambdas 0.1.. 1)")
      ("group", po::value(&group)->default_value(group), "group size; 0 = per channel")
      ("mx-block", po::value(&mx_block)->default_value(mx_block),
       "> 0: MXINT grid with blocks of this many columns (seed 004 Algorithm 1; format: mxint) instead of INT")
      ("block", po::value(&block)->default_value(block), "GPTQ block size b1")
      ("tokens", po::value(&tokens)->default_value(tokens), "rows behind each layer-figure Hessian")
      ("repeats", po::value(&repeats)->default_value(repeats), "timed repeats of the layer figure (best kept)")
      ("model", "also calibrate the whole model")
      ("layers", po::value(&layers)->default_value(layers), "blocks of the model (0 = the shape's)")
      ("samples", po::value(&samples)->default_value(samples), "calibration sequences (--model)")
      ("seq", po::value(&seq)->default_value(seq), "tokens per sequence (--model)")
      ("batch", po::value(&batch)->default_value(batch), "sequences per forward (--model)")
      ("device", po::value(&device)->default_value(device), "cuda or cpu");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const at::Device dev(device);
  const auto config_json = bench::shape_config(shape, layers);
  const model::ModelConfig config = model::parse_config(config_json, shape);
  std::vector<int> precisions = nested_bits.empty() ? std::vector<int>{int(bits)} : nested_bits;
  std::vector<double> lambdas;
  for (int r : precisions) lambdas.push_back(r == *std::min_element(precisions.begin(), precisions.end()) ? 1.0 : 0.1);
  quant::GptqConfig gptq;
  gptq.block_size = block;
  nlohmann::json figures;

  at::manual_seed(0);
  std::map<int64_t, at::Tensor> hessians;
  double layer_seconds = 0.0;
  for (const auto& [name, size] : layer_groups(config)) {
    const auto [rows, columns] = size;
    if (!hessians.count(columns)) {
      quant::HessianAccumulator h;
      h.add(at::randn({tokens, columns}, at::TensorOptions(dev)));
      hessians[columns] = h.hessian();
    }
    const at::Tensor w = at::randn({rows, columns}, at::TensorOptions(dev));
    double best = 1e30;
    for (int64_t r = 0; r <= repeats; ++r) {  // the first run warms up cuSOLVER and the allocator
      bench::sync(dev);
      const double start = bench::now_seconds();
      if (mx_block > 0) {
        quant::NestedMxGrid grid(rows, columns, {int(bits), mx_block}, precisions, lambdas);
        quant::gptq_quantize(w, hessians[columns], grid, gptq);
      } else {
        quant::NestedAffineGrid grid(w, int(bits), group, precisions, lambdas, quant::SliceMode::kClamped);
        quant::gptq_quantize(w, hessians[columns], grid, gptq);
      }
      bench::sync(dev);
      if (r > 0) best = std::min(best, bench::now_seconds() - start);
    }
    figures[name + "_seconds"] = best;
    layer_seconds += best;
    std::cout << fmt::format("{:<10} [{} x {}] {:.4f} s\n", name, rows, columns, best);
  }
  figures["layer_seconds"] = layer_seconds;
  std::cout << fmt::format("layer      {:.4f} s\n", layer_seconds);

  if (vm.count("model")) {
    model::DecoderModel net(config);
    model::initialize_random(net, 0.02, 0);
    net->to(dev);
    model::QuantizerConfig quantizer;
    quantizer.source_bits = int(bits);
    quantizer.group_size = mx_block > 0 ? 0 : group;
    quantizer.mx_block_size = mx_block;
    net->enable_quantization(model::QuantScope::kFfnAndAttention, quantizer);
    const at::Tensor calibration = at::randint(config.vocab_size, {samples, seq}, at::kLong);
    train::GptqCalibrationConfig calibration_config;
    calibration_config.gptq = gptq;
    calibration_config.bits = precisions;
    calibration_config.lambdas = lambdas;
    calibration_config.batch_size = batch;
    double hessian = 0.0, quantize = 0.0, peak = 0.0;
    calibration_config.on_block = [&](const train::GptqBlockReport& r) {
      hessian += r.hessian_seconds;
      quantize += r.quantize_seconds;
      peak = std::max(peak, r.peak_device_bytes);
      if (r.layer == 0 || r.layer + 1 == r.layers) {
        std::cout << fmt::format("block {}/{}: Hessians {:.2f} s, GPTQ {:.2f} s, block {:.2f} s\n", r.layer + 1,
                                 r.layers, r.hessian_seconds, r.quantize_seconds, r.seconds);
      }
    };
    reset_peak_device_memory(dev);
    bench::sync(dev);
    const double start = bench::now_seconds();
    train::calibrate_gptq(net, calibration, calibration_config, dev);
    bench::sync(dev);
    figures["model_seconds"] = bench::now_seconds() - start;
    figures["model_hessian_seconds"] = hessian;
    figures["model_gptq_seconds"] = quantize;
    figures["model_peak_gib"] = peak / double(1ull << 30);
    std::cout << fmt::format("model: {:.1f} s ({:.1f} s Hessian passes, {:.1f} s GPTQ), peak {:.1f} GiB\n",
                             figures["model_seconds"].get<double>(), hessian, quantize, figures["model_peak_gib"].get<double>());
  }
  bench::print_json_line("gptq_layer",
                         {{"shape", shape}, {"bits", bits}, {"nested", precisions}, {"group", group}, {"mx_block", mx_block}, {"block", block},
                          {"tokens", tokens}, {"samples", samples}, {"seq", seq}, {"device", device}},
                         figures);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return bench::guarded_main("matquant_bench_gptq", [&] { return run(argc, argv); }); }
