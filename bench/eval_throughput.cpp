// Evaluation forward throughput: held-out perplexity scoring (eval::evaluate_perplexity, the path
// of `matquant eval`) at a real shape with random bf16 weights, tokens/s. The token windows are
// torch's CPU generator seeded with 0 (at::randint(3, vocab, {N, seq + 1})), so
// bench/reference/eval_throughput.py scores the same ids with transformers; both print a checksum
// of the ids and bench/run_eval_throughput.sh checks they agree and prints the ratio.
//   matquant_bench_eval_throughput --shape gemma2-2b-shape --batch 4 --seq 2048 --windows 32 --device cuda
// --activations none,int8,mxint8-128 also scores with every projection's input quantized (seed 004's
// A8 evaluation, lib/jobs/activation_calibration.h; INT ranges from the first window batch) and
// prints each one's throughput as a ratio to the unquantized pass of the same process.
#include "bench/bench_common.h"
#include "bench/kernel_profile.h"
#include "common/device_memory.h"
#include "eval/perplexity.h"
#include "jobs/activation_calibration.h"
#include "quant/weight_format.h"

#include <boost/program_options.hpp>
#include <fmt/format.h>

namespace po = boost::program_options;
using namespace matquant;

int run(int argc, char** argv) {
  std::string shape = "gemma2-2b-shape", device = "cuda", dtype = "bf16";
  int64_t layers = 0, vocab = 0, batch = 4, seq = 2048, windows = 32, repeat = 2;
  bool profile = false;
  std::string activations = "none";
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shape)->default_value(shape), "built-in shape (gemma2-2b-shape, gemma2-9b-shape, mistral-7b-shape, tiny-gemma2, ...)")
      ("layers", po::value(&layers)->default_value(layers), "decoder blocks (0 = the preset's)")
      ("vocab", po::value(&vocab)->default_value(vocab), "vocabulary override for tiny runs (0 = the preset's)")
      ("batch", po::value(&batch)->default_value(batch), "windows per forward")
      ("seq", po::value(&seq)->default_value(seq), "predicted tokens per window (windows hold seq + 1 ids)")
      ("windows", po::value(&windows)->default_value(windows), "windows scored per pass")
      ("repeat", po::value(&repeat)->default_value(repeat), "measured passes (after one warm-up batch)")
      ("dtype", po::value(&dtype)->default_value(dtype), "bf16 or fp32 weights")
      ("activations", po::value(&activations)->default_value(activations),
       "comma-separated input quantizations of the projections to measure: none, intD, mxintD-B")
      ("profile", po::bool_switch(&profile), "after the measured passes, profile one more and print its GPU kernel-time breakdown")
      ("device", po::value(&device)->default_value(device), "cuda or cpu");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const at::Device dev(device);
  const model::ModelConfig config = model::parse_config(bench::shape_config(shape, layers, vocab), shape);
  at::manual_seed(0);
  const at::Tensor ids = at::randint(3, config.vocab_size, {windows, seq + 1}, at::kLong);
  const int64_t checksum = ids.sum().item<int64_t>();
  model::DecoderModel net(config);
  model::initialize_random(net, 0.02, 0);
  net->to(dev, dtype == "bf16" ? at::kBFloat16 : at::kFloat);
  fmt::print("Perplexity forward, matquant (eval::evaluate_perplexity), {} ({} layers), {} weights, {} windows x {} "
             "tokens, batch {}, {} pass(es), {}; ids checksum {}\n",
             shape, config.num_hidden_layers, dtype, windows, seq, batch, repeat, device, checksum);
  std::vector<std::string> settings;
  for (size_t start = 0; start <= activations.size();) {
    const size_t comma = std::min(activations.find(',', start), activations.size());
    settings.push_back(activations.substr(start, comma - start));
    start = comma + 1;
  }
  if (settings.size() > 1 || settings.front() != "none") net->enable_quantization(model::QuantScope::kFfnAndAttention, {});
  fmt::print("{:<14}{:>14}{:>12}{:>12}{:>16}{:>10}\n", "activations", "tokens/s", "TFLOP/s", "peak GiB", "log-perplexity",
             "ratio");
  double reference_tokens_per_s = 0.0;
  for (const std::string& setting : settings) {
    if (setting == "none") {
      for (auto& [name, layer, linear] : net->quantized_linears()) linear->set_activation_quantizer(std::nullopt);
    } else {
      jobs::quantize_activations(net, quant::parse_weight_format(setting), ids.slice(0, 0, std::min(batch, windows)), batch);
    }
    eval::evaluate_perplexity(net, ids.slice(0, 0, std::min(batch, windows)), batch);  // warm-up
    bench::sync(dev);
    reset_peak_device_memory(dev);
    double seconds = 0.0, log_ppl = 0.0;
    int64_t tokens = 0;
    for (int64_t r = 0; r < repeat; ++r) {
      const double start = bench::now_seconds();
      const auto result = eval::evaluate_perplexity(net, ids, batch);
      bench::sync(dev);
      seconds += bench::now_seconds() - start;
      tokens += result.tokens;
      log_ppl = result.log_perplexity;
    }
    if (profile) {
      bench::KernelProfile profiler;
      profiler.start();
      const double start = bench::now_seconds();
      eval::evaluate_perplexity(net, ids, batch);
      bench::sync(dev);
      profiler.stop_and_print(bench::now_seconds() - start, double((windows + batch - 1) / batch));
      fmt::print("(kernel profile units: one forward batch of {} windows)\n", batch);
    }
    const double tokens_per_s = double(tokens) / seconds;
    if (reference_tokens_per_s == 0.0) reference_tokens_per_s = tokens_per_s;
    const double tflops = bench::forward_flops(config, double(tokens), double(seq)) / seconds / 1e12;
    const double peak_gib = peak_device_memory(dev) / double(1ull << 30);
    fmt::print("{:<14}{:>14.1f}{:>12.2f}{:>12.2f}{:>16.4f}{:>10.3f}\n", setting, tokens_per_s, tflops, peak_gib, log_ppl,
               tokens_per_s / reference_tokens_per_s);
    bench::print_json_line("eval_throughput",
                           {{"impl", "matquant"}, {"shape", shape}, {"layers", config.num_hidden_layers},
                            {"vocab", config.vocab_size}, {"batch", batch}, {"seq", seq}, {"windows", windows},
                            {"repeat", repeat}, {"dtype", dtype}, {"device", device}, {"ids_checksum", checksum},
                            {"activations", setting}},
                           {{"tokens_per_s", tokens_per_s}, {"tflops", tflops}, {"peak_gib", peak_gib},
                            {"seconds", seconds}, {"log_perplexity", log_ppl},
                            {"ratio_to_first", tokens_per_s / reference_tokens_per_s}});
  }
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_eval_throughput", [&] { return run(argc, argv); });
}
