// `matquant generate`: decode a prompt, or several as one batch, with a key/value cache from one
// model at one or several precisions in a row (the same loaded store serves every request),
// optionally through the bit-plane or slice-pack kernels, and report tokens/s.
//   matquant generate --checkpoint CKPT --prompt "..." --precision 8 --precision 4 --precision 2
//   matquant generate --checkpoint CKPT --prompt "first prompt" "second, longer prompt" --precision 4
//   matquant generate --checkpoint CKPT --prompt-file prompts.txt --precision 4
//   matquant generate --model builtin:gemma2-9b-shape --precision 4 --bit-planes --device cuda --dtype bf16
//   matquant generate --model builtin:gemma2-9b-shape --precision 8 4 2 --slice-packs --device cuda --dtype bf16
//   matquant generate --model builtin:gemma2-9b-shape --precision 8 4 2 --slice-packs --cuda-graph --device cuda --dtype bf16
#include "command_registry.h"
#include "model_options.h"

#include "common/device_memory.h"
#include "common/error.h"
#include "kernels/slice_pack_ops.h"
#include "model/captured_decoder.h"
#include "model/generation.h"
#include "model/initialization.h"
#include "model/pretrained.h"
#include "model/tokenizer.h"
#include "quant/mix_n_match.h"
#include "train/nested_checkpoint.h"
#include "train/pretraining.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <boost/filesystem.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      ids.push_back(std::stoll(item));
    } catch (const std::exception&) {
      throw_usage("--prompt-ids must be comma-separated integers, got '" + item + "'");
    }
  }
  return ids;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The model to decode with and, when it has one, the directory holding its tokenizer.
struct LoadedModel {
  model::DecoderModel model{nullptr};
  std::string tokenizer_dir;
};

LoadedModel load_model(const std::string& model_arg, const std::string& checkpoint, const std::string& scope,
                       bool quantize, at::ScalarType dtype, const at::Device& device) {
  LoadedModel out;
  if (!checkpoint.empty()) {
    auto loaded = train::load_nested_checkpoint(checkpoint, dtype, device);
    out.model = loaded.model;
    out.tokenizer_dir = loaded.metadata.value("model_dir", "");
    return out;
  }
  const std::string builtin = "builtin:";
  if (model_arg.rfind(builtin, 0) == 0) {
    out.model = train::new_random_model(model::builtin_config(model_arg.substr(builtin.size())), model_arg, device);
    out.model->to(dtype);
  } else {
    out.model = model::load_pretrained(model_arg, {dtype, device});
    out.tokenizer_dir = model_arg;
  }
  if (quantize) quantize_in_place(out.model, scope);
  return out;
}

// GB for model-sized stores, MB for the small fixtures.
std::string size_text(int64_t bytes) {
  return bytes >= 100000000 ? fmt::format("{:.2f} GB", bytes / 1e9) : fmt::format("{:.1f} MB", bytes / 1e6);
}

int run_generate(const Args& args) {
  std::string model_arg, checkpoint, prompt_file, scope = "ffn", dtype = "fp32", device = "cpu";
  std::vector<std::string> precisions, prompts, prompt_ids;
  int64_t max_new_tokens = 32, top_k = 0;
  double temperature = 0.0;
  uint64_t seed = 0;
  po::options_description options("options");
  options.add_options()
      ("model", po::value(&model_arg), "Hugging Face model directory or builtin:NAME (random weights); with --precision its projections in --scope are quantized (MinMax, int8 codes)")
      ("checkpoint", po::value(&checkpoint), "nested checkpoint (.safetensors) instead of --model")
      ("precision", po::value(&precisions)->multitoken(),
       "r, a per-layer list or strategy@bits, once per request (e.g. --precision 8 4 2); none = full precision")
      ("prompt", po::value(&prompts)->multitoken(),
       "text (needs the model directory's tokenizer.model); several prompts are decoded as one batch")
      ("prompt-ids", po::value(&prompt_ids)->multitoken(),
       "comma-separated token ids instead of --prompt, once per prompt (e.g. --prompt-ids 2,651,6037 2,9784)")
      ("prompt-file", po::value(&prompt_file),
       "a text file of prompts, one per line (blank lines skipped), decoded as one batch; adds to --prompt")
      ("max-new-tokens", po::value(&max_new_tokens)->default_value(max_new_tokens), "tokens generated per request")
      ("temperature", po::value(&temperature)->default_value(temperature), "0 = greedy; else sampled")
      ("top-k", po::value(&top_k)->default_value(top_k), "sample among the k most likely (0 = all)")
      ("seed", po::value(&seed)->default_value(seed), "sampling seed (a CPU generator: the same tokens on every device)")
      ("scope", po::value(&scope)->default_value(scope), "ffn or ffn+attn: what --model quantizes")
      ("bit-planes", "serve the quantized projections from bit planes (on CUDA the decode kernel; docs/serving.md)")
      ("slice-packs", "pack each requested precision's slice at its own width once, before the requests, and serve "
                      "from the packs (on CUDA the slice-pack kernel; docs/serving.md)")
      ("cuda-graph", "decode each request from a CUDA graph of one step over a static cache (CUDA only; "
                     "prints the graph's kernel count, and its kernels by name in the JSON line; docs/serving.md)")
      ("dtype", po::value(&dtype)->default_value(dtype), "fp32, bf16 or fp16")
      ("device", po::value(&device)->default_value(device), "cpu or cuda");
  po::variables_map vm;
  if (!parse_command_line("generate",
                          "(--model DIR | --checkpoint CKPT) (--prompt TEXT... | --prompt-file FILE | --prompt-ids IDS...) [options]",
                          options, {}, args, vm)) {
    return 0;
  }
  if (model_arg.empty() == checkpoint.empty()) throw_usage("give one of --model and --checkpoint");
  if (!prompt_file.empty()) {
    if (!prompt_ids.empty()) throw_usage("--prompt-file holds text prompts; give it with --prompt, not --prompt-ids");
    std::ifstream in(prompt_file);
    if (!in) throw Error(ErrorCode::kNotFound, "no prompt file " + prompt_file);
    const size_t before = prompts.size();
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) prompts.push_back(line);
    }
    if (prompts.size() == before) throw Error(ErrorCode::kInvalidInput, prompt_file + ": no prompts (one per line)");
  }
  if (prompts.empty() == prompt_ids.empty()) throw_usage("give one of --prompt (or --prompt-file) and --prompt-ids");
  if (max_new_tokens < 1) throw_usage("--max-new-tokens must be at least 1");
  if (vm.count("bit-planes") && vm.count("slice-packs")) throw_usage("give at most one of --bit-planes and --slice-packs");
  const bool cuda_graph = vm.count("cuda-graph") > 0;
  if (cuda_graph && at::Device(device).type() != at::kCUDA) throw_usage("--cuda-graph needs --device cuda");
  if (precisions.empty()) precisions.push_back(checkpoint.empty() ? "none" : "8");
  const bool quantize = std::any_of(precisions.begin(), precisions.end(), [](const std::string& p) { return p != "none"; });

  c10::NoGradGuard no_grad;
  const at::Device dev(device);
  const auto sync = [&] { synchronize_device(dev); };
  auto start = std::chrono::steady_clock::now();
  LoadedModel loaded = load_model(model_arg, checkpoint, scope, quantize, parse_dtype(dtype), dev);
  loaded.model->eval();
  model::Generator generator(loaded.model);
  if ((vm.count("bit-planes") || vm.count("slice-packs")) && (!dev.is_cuda() || dtype != "bf16")) {
    // Correct everywhere (the CLI tests compare its tokens on CPU), fast only with the kernels.
    fmt::print("note: the packed kernels run on CUDA with bf16; on {} with {} every packed projection is "
               "dequantized per call (a reference path, slower than without the flag)\n", device, dtype);
  }
  if (vm.count("bit-planes")) generator.pack_bit_planes();
  int64_t released_bytes = 0;
  if (vm.count("slice-packs")) {
    const int layers = int(loaded.model->layers.size());
    for (const std::string& precision : precisions) {
      if (precision == "none") continue;
      loaded.model->set_precision(quant::plan_from_text(precision, layers));
      generator.pack_slices();
    }
    // Every request is served from packs: the dense projections and the codes are not needed again.
    const bool full_precision_requested = std::find(precisions.begin(), precisions.end(), "none") != precisions.end();
    if (!full_precision_requested) released_bytes = generator.release_packed_projections();
  }
  if (generator.serves_slice_packs()) {
    // The packs are made and nothing writes them again: the slice-pack calls may start chained to the
    // kernel before them (kernels/slice_pack_ops.h). MATQUANT_SLICE_PACK_CHAINED, when set, decides
    // instead (the library has read it: 0 keeps the calls apart).
    if (std::getenv("MATQUANT_SLICE_PACK_CHAINED") == nullptr) kernels::set_slice_pack_chained_launch(true);
  }
  sync();
  const double load_s = seconds_since(start);

  std::optional<model::Tokenizer> tokenizer;
  if (!prompts.empty()) {
    const boost::filesystem::path file = boost::filesystem::path(loaded.tokenizer_dir) / "tokenizer.model";
    if (loaded.tokenizer_dir.empty() || !boost::filesystem::exists(file)) {
      throw_usage("--prompt needs a tokenizer.model beside the model; use --prompt-ids");
    }
    tokenizer = model::Tokenizer::load_for_model(loaded.tokenizer_dir);
  }
  std::vector<std::vector<int64_t>> batch;
  for (const std::string& text : tokenizer ? prompts : prompt_ids) {
    batch.push_back(tokenizer ? tokenizer->encode(text) : parse_ids(text));
    if (batch.back().empty()) throw_usage("a prompt has no tokens");
  }
  const int64_t vocab = loaded.model->config().vocab_size;
  for (const auto& ids : batch) {
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab) {
        throw_usage(fmt::format("prompt token {} is outside the vocabulary (0..{})", id, vocab - 1));
      }
    }
  }
  const int64_t rows = int64_t(batch.size());
  std::string prompt_text = fmt::format("{} prompt tokens", batch.front().size());
  if (rows > 1) {
    std::vector<size_t> lengths;
    for (const auto& ids : batch) lengths.push_back(ids.size());
    prompt_text = fmt::format("{} prompts of {} tokens (one batch, left-padded)", rows, fmt::join(lengths, ", "));
  }
  if (dev.is_cuda()) reset_peak_device_memory(dev);
  std::string serving = "dequantized weights";
  if (generator.serves_slice_packs()) {
    serving = "slice packs: " + size_text(generator.slice_pack_bytes()) + " on the device";
    if (released_bytes > 0) serving += " (dense projections and codes freed: " + size_text(released_bytes) + ")";
  } else if (generator.serves_bit_planes()) {
    serving = "bit planes: " + size_text(generator.bit_plane_bytes()) + " on the device";
  }
  fmt::print("model loaded in {:.1f} s; {}; {}\n", load_s, prompt_text, serving);
  nlohmann::json requests = nlohmann::json::array();
  const int layers = int(loaded.model->layers.size());
  for (const std::string& precision : precisions) {
    loaded.model->set_precision(precision == "none" ? std::nullopt
                                                    : std::optional<quant::PrecisionPlan>(quant::plan_from_text(precision, layers)));
    at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(seed);
    model::KvCache cache;
    sync();
    start = std::chrono::steady_clock::now();
    at::Tensor logits = generator.prefill(batch, cache);
    at::Tensor next = generator.sample(logits, {temperature, top_k, seed}, rng);
    // Each row's tokens; a row stops keeping them after its end-of-sequence token, and decoding stops
    // when every row has (the batch keeps stepping for the rows still going).
    std::vector<std::vector<int64_t>> generated(size_t(rows), std::vector<int64_t>{});
    std::vector<bool> finished(size_t(rows), false);
    const auto keep = [&](const at::Tensor& tokens) {
      const at::Tensor host = tokens.to(at::kCPU);  // the host needs each token before the next step
      for (int64_t row = 0; row < rows; ++row) {
        if (finished[size_t(row)]) continue;
        generated[size_t(row)].push_back(host[row].item<int64_t>());
        finished[size_t(row)] = tokenizer && generated[size_t(row)].back() == tokenizer->eos_id();
      }
    };
    keep(next);
    sync();
    const double prefill_s = seconds_since(start);
    // With --cuda-graph, one step over a static cache holding the prompt is captured (timed apart
    // from decoding) and replayed per token.
    std::optional<model::CapturedDecoder> captured;
    if (cuda_graph && max_new_tokens > 1) {
      captured.emplace(generator, cache, cache.length + max_new_tokens - 1);
      cache = model::KvCache{};  // the static cache holds the prompt now
    }
    start = std::chrono::steady_clock::now();
    int64_t steps = 1;  // tokens per row so far (the prompt step gave the first)
    while (steps < max_new_tokens && !std::all_of(finished.begin(), finished.end(), [](bool f) { return f; })) {
      logits = captured ? captured->step(next.view({rows, 1})) : generator.step(next.view({rows, 1}), cache);
      next = generator.sample(logits, {temperature, top_k, seed}, rng);
      keep(next);
      ++steps;
    }
    sync();
    const double decode_s = seconds_since(start);
    const int64_t decoded = (steps - 1) * rows;  // every row decodes at every step
    const double tokens_per_s = decoded > 0 ? double(decoded) / decode_s : 0.0;
    std::vector<std::string> texts;
    for (const auto& tokens : generated) {
      std::string text;
      if (tokenizer) {
        text = tokenizer->decode(tokens);
      } else {
        for (int64_t id : tokens) text += (text.empty() ? "" : ",") + std::to_string(id);
      }
      texts.push_back(rows > 1 ? fmt::format("#{} {}", texts.size(), text) : text);
    }
    // With slice packs, what this precision alone would keep on the device.
    const int64_t pack_bytes = generator.serves_slice_packs() ? generator.served_slice_pack_bytes() : 0;
    int graph_kernels = 0;
    if (captured) {
      for (const auto& [name, count] : captured->kernel_census()) graph_kernels += count;
    }
    const std::string capture_text =
        captured ? fmt::format(", graph of {} kernels captured in {:.1f} ms", graph_kernels, captured->capture_seconds() * 1e3)
                 : "";
    fmt::print("[{}] prefill {:.1f} ms{}, {} tokens decoded at {:.1f} tokens/s{}{}\n{}\n", precision,
               prefill_s * 1e3, capture_text, decoded, tokens_per_s,
               rows > 1 ? fmt::format(" over {} prompts", rows) : "",
               pack_bytes > 0 ? " (packs read: " + size_text(pack_bytes) + ")" : "", fmt::join(texts, "\n"));
    // One prompt: its tokens; several: a list per prompt.
    const nlohmann::json tokens = rows > 1 ? nlohmann::json(generated) : nlohmann::json(generated.front());
    requests.push_back({{"precision", precision}, {"prefill_ms", prefill_s * 1e3}, {"decoded_tokens", decoded},
                        {"tokens_per_s", tokens_per_s}, {"prompts", rows}, {"tokens", tokens}});
    if (captured) {
      requests.back()["graph_capture_ms"] = captured->capture_seconds() * 1e3;
      requests.back()["graph_kernels"] = graph_kernels;
      requests.back()["graph_kernel_census"] = captured->kernel_census();
    }
    if (pack_bytes > 0) requests.back()["slice_pack_gb"] = pack_bytes / 1e9;
  }
  nlohmann::json summary = {{"command", "generate"}, {"bit_planes", generator.serves_bit_planes()}, {"cuda_graph", cuda_graph},
                            {"slice_packs", generator.serves_slice_packs()}, {"released_dense_gb", released_bytes / 1e9},
                            {"device", device}, {"dtype", dtype}, {"requests", requests}};
  if (dev.is_cuda()) summary["peak_memory_gib"] = peak_device_memory(dev) / double(int64_t(1) << 30);
  fmt::print("JSON {}\n", summary.dump());
  return 0;
}

const RegisterCommand kRegister{
    {"generate", "decode a prompt with a key/value cache at one or several precisions of one model", &run_generate}};

}  // namespace
}  // namespace matquant::apps
