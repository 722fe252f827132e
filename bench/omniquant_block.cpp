// OmniQuant block calibration at a real shape (random weights): seconds per block-epoch and peak
// device memory, MatQuant R = {8, 4, 2} against single-precision OmniQuant (R = {4}) in one run.
//   matquant_bench_omniquant --shape gemma2-9b-shape --layers 2 --samples 128 --seq 2048 --device cuda
#include "common/device_memory.h"
#include "model/initialization.h"
#include "train/omniquant_trainer.h"

#include "bench_common.h"
#include "kernel_profile.h"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <torch/cuda.h>

namespace po = boost::program_options;
using namespace matquant;

struct Measurement {
  double seconds_per_block_epoch = 0.0;
  double seconds_per_block = 0.0;
  double peak_gib = 0.0;
};

Measurement measure(const std::string& shape, int64_t layers, const at::Tensor& calibration,
                    const train::OmniQuantConfig& config, const at::Device& device, at::ScalarType dtype,
                    bool model_on_host) {
  nlohmann::json json = model::builtin_config(shape);
  json["num_hidden_layers"] = layers;
  model::DecoderModel net(model::parse_config(json, shape));
  model::initialize_random(net, 0.02, 0);
  // Like the reference (and `sweep run`, which loads the model onto its device), the model sits on
  // the device unless --model-on-host: then every block travels there and back in pageable copies.
  net->to(model_on_host ? at::Device(at::kCPU) : device, dtype);
  model::QuantizerConfig quantizer;
  quantizer.learnable_clipping = true;
  net->enable_quantization(model::QuantScope::kFfn, quantizer);
  const auto summary = train::calibrate_omniquant(net, calibration, config, device);
  Measurement m;
  for (const auto& b : summary.blocks) {
    m.seconds_per_block += b.seconds / double(summary.blocks.size());
    m.peak_gib = std::max(m.peak_gib, b.peak_device_bytes / double(1ull << 30));
  }
  m.seconds_per_block_epoch = m.seconds_per_block / double(config.epochs);
  return m;
}

int run(int argc, char** argv) {
  std::string shape = "gemma2-9b-shape", device = "cuda", dtype = "bf16";
  int64_t layers = 2, samples = 128, seq = 2048, epochs = 1, batch = 4;
  bool profile = false, model_on_host = false;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shape)->default_value(shape), "built-in shape name")
      ("layers", po::value(&layers)->default_value(layers), "blocks to calibrate (timing is per block)")
      ("samples", po::value(&samples)->default_value(samples), "calibration sequences")
      ("seq", po::value(&seq)->default_value(seq), "tokens per sequence")
      ("epochs", po::value(&epochs)->default_value(epochs), "epochs per block")
      ("batch", po::value(&batch)->default_value(batch), "calibration batch size")
      ("device", po::value(&device)->default_value(device), "cuda or cpu")
      ("dtype", po::value(&dtype)->default_value(dtype), "bf16 or fp32 weights and activations")
      ("model-on-host", po::bool_switch(&model_on_host),
       "keep the model in host memory and move each block to the device and back (for models larger than it)")
      ("profile", po::bool_switch(&profile),
       "print a GPU kernel-time breakdown of the MatQuant run, per block (Kineto; times slightly inflated)");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const at::Device dev(device);
  const at::ScalarType type = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const int64_t vocab = model::builtin_config(shape)["vocab_size"].get<int64_t>();
  at::manual_seed(0);
  const at::Tensor calibration = at::randint(3, vocab, {samples, seq}, at::kLong);
  train::OmniQuantConfig config;
  config.epochs = epochs;
  config.batch_size = batch;
  fmt::print("OmniQuant block calibration, {} ({} blocks), {} x {} tokens, batch {}, {} epoch(s), {} on {}, model on {}\n",
             shape, layers, samples, seq, batch, epochs, dtype, device, model_on_host ? "the host" : "the device");
  config.objective = train::Objective::plain({4});
  const Measurement single = measure(shape, layers, calibration, config, dev, type, model_on_host);
  config.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  bench::KernelProfile profiler;
  if (profile) profiler.start();
  const Measurement matquant = measure(shape, layers, calibration, config, dev, type, model_on_host);
  if (profile) profiler.stop_and_print(matquant.seconds_per_block * double(layers), double(layers));
  fmt::print("{:<28}{:>20}{:>16}{:>14}\n", "objective", "s / block-epoch", "s / block", "peak GiB");
  fmt::print("{:<28}{:>20.2f}{:>16.2f}{:>14.1f}\n", "single precision R={4}", single.seconds_per_block_epoch,
             single.seconds_per_block, single.peak_gib);
  fmt::print("{:<28}{:>20.2f}{:>16.2f}{:>14.1f}\n", "MatQuant R={8,4,2}", matquant.seconds_per_block_epoch,
             matquant.seconds_per_block, matquant.peak_gib);
  fmt::print("ratio MatQuant / single: {:.2f}x time per block-epoch\n",
             matquant.seconds_per_block_epoch / single.seconds_per_block_epoch);
  const nlohmann::json line = {
      {"bench", "omniquant_block"},
      {"config", {{"shape", shape}, {"layers", layers}, {"samples", samples}, {"seq", seq}, {"epochs", epochs},
                  {"batch", batch}, {"device", device}, {"dtype", dtype},
                  {"model_on_host", model_on_host}, {"profile", profile}}},
      {"figures", {{"single_seconds_per_block_epoch", single.seconds_per_block_epoch},
                   {"single_peak_gib", single.peak_gib},
                   {"matquant_seconds_per_block_epoch", matquant.seconds_per_block_epoch},
                   {"matquant_peak_gib", matquant.peak_gib},
                   {"time_ratio", matquant.seconds_per_block_epoch / single.seconds_per_block_epoch}}}};
  std::cout << line.dump() << std::endl;
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_omniquant", [&] { return run(argc, argv); });
}
