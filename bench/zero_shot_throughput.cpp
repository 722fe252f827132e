// Zero-shot scoring throughput: multiple-choice log-likelihood requests (eval::score_requests, the
// engine behind `matquant eval`'s six tasks) at a real shape with random weights, requests/s. The
// requests are synthetic and shaped like ARC / HellaSwag items: a context of `--context` / 4 to
// `--context` tokens and `--choices` continuations of 1 to 16 tokens each. They come from torch's
// CPU generator seeded with 0 (make_requests below; bench/reference/zero_shot_throughput.py draws
// the same ones), and both sides print a checksum of their ids and the mean log-likelihood.
//   matquant_bench_zero_shot_throughput --shape gemma2-2b-shape --questions 512 --batch 32 --device cuda
#include "bench/bench_common.h"
#include "bench/kernel_profile.h"
#include "common/device_memory.h"
#include "eval/loglikelihood_engine.h"

#include <boost/program_options.hpp>
#include <fmt/format.h>

namespace po = boost::program_options;
using namespace matquant;

namespace {

constexpr int64_t kMaxContinuation = 16;

// The draws, in this order: context lengths [Q] in [context / 4, context], continuation lengths
// [Q, choices] in [1, 16], then ids [Q, context + choices * 16] in [3, vocab). Question q's context is
// ids[q, :length]; choice c is ids[q, context + 16 c :][:its length].
std::vector<eval::TokenizedRequest> make_requests(int64_t questions, int64_t choices, int64_t context, int64_t vocab,
                                                  int64_t& checksum) {
  at::manual_seed(0);
  const at::Tensor context_lengths = at::randint(context / 4, context + 1, {questions}, at::kLong);
  const at::Tensor continuation_lengths = at::randint(1, kMaxContinuation + 1, {questions, choices}, at::kLong);
  const at::Tensor ids = at::randint(3, vocab, {questions, context + choices * kMaxContinuation}, at::kLong);
  const auto length = context_lengths.accessor<int64_t, 1>();
  const auto continuation_length = continuation_lengths.accessor<int64_t, 2>();
  const auto id = ids.accessor<int64_t, 2>();
  std::vector<eval::TokenizedRequest> requests;
  checksum = 0;
  for (int64_t q = 0; q < questions; ++q) {
    for (int64_t c = 0; c < choices; ++c) {
      eval::TokenizedRequest request;
      for (int64_t i = 0; i < length[q]; ++i) request.context.push_back(id[q][i]);
      for (int64_t i = 0; i < continuation_length[q][c]; ++i) {
        request.continuation.push_back(id[q][context + c * kMaxContinuation + i]);
      }
      for (int64_t v : request.context) checksum += v;
      for (int64_t v : request.continuation) checksum += v;
      requests.push_back(std::move(request));
    }
  }
  return requests;
}

int run(int argc, char** argv) {
  std::string shape = "gemma2-2b-shape", device = "cuda", dtype = "bf16";
  int64_t layers = 0, vocab = 0, questions = 512, choices = 4, context = 256, batch = 32, repeat = 2;
  bool profile = false, share_contexts = true;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shape)->default_value(shape), "built-in shape (gemma2-2b-shape, gemma2-9b-shape, mistral-7b-shape, tiny-gemma2, ...)")
      ("layers", po::value(&layers)->default_value(layers), "decoder blocks (0 = the preset's)")
      ("vocab", po::value(&vocab)->default_value(vocab), "vocabulary override for tiny runs (0 = the preset's)")
      ("questions", po::value(&questions)->default_value(questions), "multiple-choice questions")
      ("choices", po::value(&choices)->default_value(choices), "continuations per question (one request each)")
      ("context", po::value(&context)->default_value(context), "longest context in tokens (shortest: a quarter of it)")
      ("batch", po::value(&batch)->default_value(batch), "rows per forward (the engine's batch size)")
      ("share-contexts", po::value(&share_contexts)->default_value(share_contexts),
       "run a question's context once per row for all its choices (the engine's default)")
      ("repeat", po::value(&repeat)->default_value(repeat), "measured passes (after one whole warm-up pass)")
      ("dtype", po::value(&dtype)->default_value(dtype), "bf16 or fp32 weights")
      ("profile", po::bool_switch(&profile), "after the measured passes, profile one more and print its GPU kernel-time breakdown")
      ("device", po::value(&device)->default_value(device), "cuda or cpu");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  if (questions < 1 || choices < 1 || context < 4 || batch < 1 || repeat < 1) {
    throw std::invalid_argument("--questions, --choices, --batch and --repeat must be positive, --context at least 4");
  }
  const at::Device dev(device);
  const model::ModelConfig config = model::parse_config(bench::shape_config(shape, layers, vocab), shape);
  int64_t checksum = 0;
  const std::vector<eval::TokenizedRequest> requests =
      make_requests(questions, choices, context, config.vocab_size, checksum);
  model::DecoderModel net(config);
  model::initialize_random(net, 0.02, 0);
  net->to(dev, dtype == "bf16" ? at::kBFloat16 : at::kFloat);
  fmt::print("Zero-shot scoring, matquant (eval::score_requests), {} ({} layers), {} weights, {} questions x {} choices, "
             "contexts up to {} tokens, batch {}, contexts shared: {}, {} pass(es), {}; ids checksum {}\n",
             shape, config.num_hidden_layers, dtype, questions, choices, context, batch, share_contexts, repeat, device,
             checksum);
  eval::EngineOptions engine;
  engine.batch_size = batch;
  engine.share_contexts = share_contexts;
  eval::score_requests(net, requests, engine);  // warm-up: one whole pass, as the reference's
  bench::sync(dev);
  reset_peak_device_memory(dev);
  double seconds = 0.0, mean_loglikelihood = 0.0;
  for (int64_t r = 0; r < repeat; ++r) {
    const double start = bench::now_seconds();
    const auto results = eval::score_requests(net, requests, engine);
    bench::sync(dev);
    seconds += bench::now_seconds() - start;
    double sum = 0.0;
    for (const auto& result : results) sum += result.loglikelihood;
    mean_loglikelihood = sum / double(results.size());
  }
  if (profile) {
    bench::KernelProfile profiler;
    profiler.start();
    const double start = bench::now_seconds();
    eval::score_requests(net, requests, engine);
    bench::sync(dev);
    profiler.stop_and_print(bench::now_seconds() - start, 1.0);
    fmt::print("(kernel profile unit: one pass over all requests)\n");
  }
  const double requests_per_s = double(requests.size()) * double(repeat) / seconds;
  const double peak_gib = peak_device_memory(dev) / double(1ull << 30);
  fmt::print("{:<12}{:>14}{:>12}{:>20}\n", "impl", "requests/s", "peak GiB", "mean loglikelihood");
  fmt::print("{:<12}{:>14.1f}{:>12.2f}{:>20.4f}\n", "matquant", requests_per_s, peak_gib, mean_loglikelihood);
  bench::print_json_line("zero_shot_throughput",
                         {{"impl", "matquant"}, {"shape", shape}, {"layers", config.num_hidden_layers},
                          {"vocab", config.vocab_size}, {"questions", questions}, {"choices", choices},
                          {"context", context}, {"batch", batch}, {"share_contexts", share_contexts},
                          {"repeat", repeat}, {"dtype", dtype}, {"device", device}, {"ids_checksum", checksum}},
                         {{"requests_per_s", requests_per_s}, {"peak_gib", peak_gib}, {"seconds", seconds},
                          {"mean_loglikelihood", mean_loglikelihood}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_zero_shot_throughput", [&] { return run(argc, argv); });
}
